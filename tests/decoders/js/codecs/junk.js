// A codec that returns junk depending on fPort.
function decodeUplink(input) {
  switch (input.fPort) {
    case 1: return 42;                               // not an object
    case 2: return { warnings: ["no data here"] };   // missing data
    case 3: return { data: [1, 2, 3] };               // data not an object
    case 4: return { data: { big: BigInt(1) } };      // not JSON-serialisable
    case 5: var a = {}; a.self = a; return { data: a }; // cyclic
    case 6: return undefined;                        // nothing
    default: return { data: { ok: true } };
  }
}
