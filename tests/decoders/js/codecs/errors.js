// A TS013 codec that reports errors for every payload shorter than 3 bytes.
function decodeUplink(input) {
  if (input.bytes.length < 3) {
    return { errors: ["payload too short", "need 3 bytes"], warnings: [] };
  }
  return { data: { counter: input.bytes[2] } };
}
