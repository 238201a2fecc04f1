// Written for lorawan-monitor's tests (not vendor code): the Milesight channel/type
// format of the EM300-TH user guide ("Uplink Packet": 0x01 0x75 battery %, 0x03 0x67
// temperature s16 LE / 10 degC, 0x04 0x68 humidity u8 / 2 %), in the ES5 style many
// vendor codecs use: implicit globals (no var), a for loop with an implicit counter.
function decodeUplink(input) {
  decoded = {};
  bytes = input.bytes;
  for (i = 0; i < bytes.length; ) {
    channel = bytes[i++];
    type = bytes[i++];
    if (channel === 0x01 && type === 0x75) {
      decoded.battery = bytes[i];
      i += 1;
    } else if (channel === 0x03 && type === 0x67) {
      raw = bytes[i] | (bytes[i + 1] << 8);
      decoded.temperature = (raw > 0x7fff ? raw - 0x10000 : raw) / 10;
      i += 2;
    } else if (channel === 0x04 && type === 0x68) {
      decoded.humidity = bytes[i] / 2;
      i += 1;
    } else {
      break;
    }
  }
  return { data: decoded };
}
