// Written for lorawan-monitor's tests (not vendor code): the Terabee People Flow Counting
// L/XL counting frame (port 1: count in u32 BE, count out u32 BE, flags byte: bit 0
// TPC_STOPPED, 1 TPC_STUCK, 2 MULTI_DEV_ISSUE, 3 WIFI_AP_ENABLED), in the typed-array
// style: Uint8Array + DataView, Object.keys / reduce.
var FLAG_NAMES = ["TPC_STOPPED", "TPC_STUCK", "MULTI_DEV_ISSUE", "WIFI_AP_ENABLED"];

function decodeUplink(input) {
  if (input.fPort !== 1) {
    return { errors: ["only the counting frame (port 1) is decoded here"] };
  }
  var view = new DataView(new Uint8Array(input.bytes).buffer);
  var flagsByte = input.bytes.length > 8 ? view.getUint8(8) : 0;
  var flags = FLAG_NAMES.reduce(function (acc, name, bit) {
    if (flagsByte & (1 << bit)) { acc[name] = 1; }
    return acc;
  }, {});
  return {
    data: { count_in: view.getUint32(0, false), count_out: view.getUint32(4, false), flags: flags }
  };
}
