// fixture codec: firmware 2.0 sends the temperature in hundredths of a degree
function decodeUplink(input) {
  var raw = (input.bytes[0] << 8) | input.bytes[1];
  return { data: { codec: "v2", temperature: (raw & 0x8000 ? raw - 0x10000 : raw) / 100 } };
}
function normalizeUplink(input) {
  return { data: { air: { temperature: input.data.temperature } } };
}
