
var __lm_cjs = false;
var __lm_pick = function (module, exports, own) {
  var names = ["decodeUplink", "Decode", "normalizeUplink"], i, n, e;
  var sources = [module && typeof module === "object" ? module.exports : undefined, exports];
  for (i = 0; i < names.length; i++) {
    n = names[i];
    if (typeof own[n] === "function") { continue; }
    for (e = 0; e < sources.length; e++) {
      var src = sources[e];
      if (src !== null && (typeof src === "object" || typeof src === "function") &&
          typeof src[n] === "function") { own[n] = src[n]; break; }
    }
  }
  return own;
};
var __lm_fns = function () {
  if (!__lm_cjs) { return __lm_factory(); }
  var ex = {};
  return __lm_factory(ex, {exports: ex});
};
var __lm_err = function (where, e) {
  var msg;
  if (e instanceof Error) { msg = e.name + ": " + e.message; }
  else if (typeof e === "string") { msg = e; }
  else { try { msg = JSON.stringify(e); } catch (x) { msg = String(e); } }
  return JSON.stringify({error: where + " threw: " + msg, stack: e && e.stack ? String(e.stack) : ""});
};
var __lm_detect = function () {
  var f = __lm_fns();
  return (typeof f.decodeUplink === "function" ? "ts013 " : "") +
         (typeof f.Decode === "function" ? "chirpstack-v3 " : "") +
         (typeof f.normalizeUplink === "function" ? "normalize" : "");
};
var __lm_run = function (iface, input, normalize) {
  var f, r, out, n;
  try { f = __lm_fns(); } catch (e) { return __lm_err("the codec's top-level code", e); }
  try {
    if (iface === "ts013") {
      input.recvTime = new Date(input.recvTime);
      r = f.decodeUplink(input);
    } else {
      r = f.Decode(input.fPort, input.bytes, input.variables);
    }
  } catch (e) { return __lm_err(iface === "ts013" ? "decodeUplink" : "Decode", e); }
  out = {result: r === undefined ? null : r};
  if (normalize && typeof f.normalizeUplink === "function" && r && typeof r === "object" &&
      r.data && typeof r.data === "object" && !(r.errors && r.errors.length)) {
    // as The Things Stack: normalizeUplink({data}) after a successful decodeUplink;
    // its failure only costs the normalized payload
    try {
      n = f.normalizeUplink({data: JSON.parse(JSON.stringify(r.data))});
      out.normalized = n === undefined ? null : n;
    } catch (e) { out.normalize_error = JSON.parse(__lm_err("normalizeUplink", e)); }
  }
  try {
    return JSON.stringify(out);
  } catch (e) {
    return JSON.stringify({error: "returned a value that is not JSON (" + String(e).split("\n")[0] + ")"});
  }
};
