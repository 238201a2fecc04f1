// Written for lorawan-monitor's tests (not vendor code): the Dragino LHT65 uplink of the
// LHT65 user manual section 2.4 (port 2, 11 bytes: BAT, built-in SHT20 temperature and
// humidity, external sensor type, external value), in ES2015+ style: const/let, arrow
// functions, template literals, destructuring, object spread.
const s16 = (hi, lo) => {
  const v = (hi << 8) | lo;
  return v & 0x8000 ? v - 0x10000 : v;
};
const u16 = (hi, lo) => (hi << 8) | lo;
const EXT = { 1: "Temperature Sensor" };

const decodeUplink = ({ bytes, fPort }) => {
  if (fPort !== 2) {
    return { errors: [`unknown FPort ${fPort}`] };
  }
  const [b0, b1, b2, b3, b4, b5, b6, b7, b8] = bytes;
  const base = {
    BatV: (u16(b0, b1) & 0x3fff) / 1000,
    Bat_status: b0 >> 6,
    TempC_SHT: s16(b2, b3) / 100,
    Hum_SHT: u16(b4, b5) / 10,
  };
  const ext = b6 & 0x7f;
  const probe = ext === 1 ? { TempC_DS: s16(b7, b8) / 100 } : {};
  return { data: { ...base, Ext_sensor: EXT[ext] ?? `Type ${ext}`, ...probe } };
};
