// TS013 codec for the template device example/thermometer (decoders/vendors/_example),
// written from the payload description in example.py, independently of the Python code:
//   port 1, 4 bytes big endian: int16 temperature in 0.01 degC, uint16 battery in mV.
function decodeUplink(input) {
  if (input.fPort !== 1) {
    return { errors: ["example/thermometer sends on port 1, not port " + input.fPort] };
  }
  var b = input.bytes;
  if (b.length !== 4) {
    return { errors: ["example/thermometer expects 4 bytes on port 1, got " + b.length] };
  }
  var t = (b[0] << 8) | b[1];
  if (t & 0x8000) {
    t -= 0x10000;
  }
  return { data: { temperature: t / 100, battery_mv: (b[2] << 8) | b[3] } };
}
