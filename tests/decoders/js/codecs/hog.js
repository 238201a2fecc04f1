// A codec that allocates without bound on port 2 and decodes normally on port 1,
// so a test can show the codec works again after a memory overrun.
function decodeUplink(input) {
  if (input.fPort === 1) {
    return { data: { counter: input.bytes[0] } };
  }
  var keep = [];
  for (;;) {
    keep.push(new Array(100000).fill(input.fPort + 0.5));
  }
}
