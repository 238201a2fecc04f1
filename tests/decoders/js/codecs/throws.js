// A codec with a bug: reads a property of undefined on line 4.
function decodeUplink(input) {
  var header;
  var version = header.version;
  return { data: { version: version } };
}
