// fixture codec with a syntax error on line 3
function decodeUplink(input) {
  return {data: {}
}
