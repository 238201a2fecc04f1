// fixture codec: firmware 1.0 sends the temperature in tenths of a degree
function decodeUplink(input) {
  var raw = (input.bytes[0] << 8) | input.bytes[1];
  return { data: { codec: "v1", temperature: (raw & 0x8000 ? raw - 0x10000 : raw) / 10 } };
}
