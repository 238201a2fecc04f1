// fixture codec: the US915 profile's codec of firmware 1.0
function decodeUplink(input) {
  return { data: { codec: "us", temperature: input.bytes[0] } };
}
