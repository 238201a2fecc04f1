// Written for lorawan-monitor's tests (not vendor code): the Nwave NPS405 parking status
// frame (port 1, one byte: bit 0 occupied, bits 1..7 the previous state's duration,
// compressed: < 90 minutes as is, < 120 in 5-minute steps from 90, < 127 in 60-minute
// steps from 240, 127 = overflow), as a ChirpStack v3 codec: Decode(fPort, bytes).
function previousState(c) {
  if (c < 90) return { d: c, e: 0, o: false };
  if (c < 120) return { d: 90 + (c - 90) * 5, e: 4, o: false };
  if (c < 127) return { d: 240 + (c - 120) * 60, e: 59, o: false };
  return { d: 660, e: null, o: true };
}

function Decode(fPort, bytes, variables) {
  if (fPort !== 1) {
    throw new Error("only the parking status frame (port 1) is decoded here");
  }
  var p = previousState((bytes[0] >> 1) & 0x7f);
  return {
    type: "parking_status",
    occupied: (bytes[0] & 1) === 1,
    previous_state_duration: p.d,
    previous_state_duration_error: p.e,
    previous_state_duration_overflow: p.o
  };
}
