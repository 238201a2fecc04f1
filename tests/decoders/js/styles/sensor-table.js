// Written for lorawan-monitor's tests (not vendor code): the Decentlab DL-MBX frame of
// the DL-MBX data sheet (protocol version 2, device id u16, sensor flags u16, then per
// flagged sensor its u16 words: sensor 0 distance mm + number of valid samples, sensor 1
// battery mV), in the table-driven style of generic vendor decoders: a list of sensor
// definitions with `convert` functions, and a decoder that walks it.
var PROTOCOL_VERSION = 2;
var SENSORS = [
  {
    length: 2,
    values: [
      { name: "distance", displayName: "Distance", unit: "mm", convert: function (x) { return x[0]; } },
      { name: "number_of_valid_samples", displayName: "Number of valid samples", convert: function (x) { return x[1]; } }
    ]
  },
  {
    length: 1,
    values: [
      { name: "battery_voltage", displayName: "Battery voltage", unit: "V", convert: function (x) { return x[0] / 1000; } }
    ]
  }
];

function readWord(bytes, i) {
  return (bytes[i] << 8) + bytes[i + 1];
}

function decodeUplink(input) {
  var bytes = input.bytes;
  if (bytes[0] !== PROTOCOL_VERSION) {
    return { errors: ["protocol version " + bytes[0] + " doesn't match v2"] };
  }
  var out = { protocol_version: bytes[0], device_id: readWord(bytes, 1) };
  var flags = readWord(bytes, 3);
  var pos = 5;
  for (var s = 0; s < SENSORS.length; s++, flags >>= 1) {
    if ((flags & 1) !== 1) { continue; }
    var words = [];
    for (var w = 0; w < SENSORS[s].length; w++, pos += 2) { words.push(readWord(bytes, pos)); }
    SENSORS[s].values.forEach(function (v) {
      var entry = { displayName: v.displayName, value: v.convert(words) };
      if (v.unit) { entry.unit = v.unit; }
      out[v.name] = entry;
    });
  }
  return { data: out };
}
