// TS013 codec for an invented device "acme/th" (written for this project's tests).
// Port 1: int16 BE temperature 0.1 degC, uint8 humidity 0.5 %, uint16 BE battery mV.
// Port 2: status byte; 0x01 = probe error.
function readInt16BE(bytes, i) {
  var v = (bytes[i] << 8) | bytes[i + 1];
  return v > 0x7fff ? v - 0x10000 : v;
}

function decodeUplink(input) {
  var bytes = input.bytes;
  if (input.fPort === 1) {
    if (bytes.length !== 5) {
      return { errors: ["expected 5 bytes on port 1, got " + bytes.length] };
    }
    var offset = (input.variables && input.variables.temp_offset) ? Number(input.variables.temp_offset) : 0;
    var warnings = [];
    var battery = (bytes[3] << 8) | bytes[4];
    if (battery < 2500) {
      warnings.push("battery low");
    }
    return {
      data: {
        temp: readInt16BE(bytes, 0) / 10 + offset,
        hum: bytes[2] / 2,
        battery_mv: battery,
        recv_year: input.recvTime.getUTCFullYear()
      },
      warnings: warnings
    };
  }
  if (input.fPort === 2) {
    return { data: { status: bytes[0] === 1 ? "probe_error" : "ok" } };
  }
  return { errors: ["unknown port " + input.fPort] };
}
