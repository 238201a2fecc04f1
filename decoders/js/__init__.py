"""Vendor JavaScript codecs (The Things Stack / ChirpStack) run in an embedded V8.

Two interfaces, as the network servers call them:

* ``ts013`` - LoRa Alliance TS013 payload codec API, used by The Things Stack and
  ChirpStack v4: ``decodeUplink({bytes, fPort, recvTime, variables})`` returns
  ``{data, warnings, errors}``.
* ``chirpstack-v3`` - ``Decode(fPort, bytes, variables)`` returns the object itself.

Each codec gets its own V8 isolate (``mini-racer``), compiled once, with a time limit
per call (default 100 ms) and a memory limit (default 64 MB, soft limit at 3/4).
A call that misses the time limit is retried once (the limit is wall-clock time, which
a loaded machine can eat); a second timeout, a throw, a memory overrun, non-empty
``errors``, missing ``data`` or a non-object / non-JSON return raises
:class:`CodecError` with the JS message and the codec's line
("decodeUplink threw: TypeError: ... at line 3 of acme.js").

State between calls: the codec file's top-level code runs afresh for every call
(wrapped in a function, so ``var``/``let``/``const``/``function`` declarations start
from their initial values), much as ChirpStack v4 starts a fresh QuickJS runtime per
call (chirpstack/src/codec/js/mod.rs). Only *implicit* globals (assignment to an undeclared name,
``globalThis.x = ...``) persist between calls of the same codec; codecs never share an
isolate, and the isolate is rebuilt after a memory overrun.

Codec ``warnings`` travel with the decoded dict (a :class:`CodecData`, a ``dict``
subclass) and come out of ``normalize`` as warnings.
"""

from decoders.js.decoder import BrokenCodec, CodecData, JsCodecDecoder
from decoders.js.loader import codec_from_entry, disabled_codecs, load_codecs

__all__ = [
    "BrokenCodec",
    "CodecData",
    "JsCodecDecoder",
    "codec_from_entry",
    "disabled_codecs",
    "load_codecs",
]
