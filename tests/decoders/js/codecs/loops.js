// A codec that never returns.
function decodeUplink(input) {
  var n = 0;
  while (true) {
    n += input.bytes.length;
  }
}
