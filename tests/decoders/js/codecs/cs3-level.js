// ChirpStack v3 style codec for an invented water level sensor "acme/level".
// Port 10: uint16 BE distance in mm, uint16 BE battery mV; 0xFFFF distance = no echo.
function Decode(fPort, bytes, variables) {
  if (fPort !== 10) {
    throw new Error("unknown port " + fPort);
  }
  var distance = (bytes[0] << 8) | bytes[1];
  var mount = variables && variables.mount_height_mm ? Number(variables.mount_height_mm) : 0;
  return {
    distance_mm: distance,
    level_mm: mount ? mount - distance : null,
    batV: ((bytes[2] << 8) | bytes[3]) / 1000
  };
}
