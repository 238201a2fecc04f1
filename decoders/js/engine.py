"""The JavaScript engine: one V8 isolate (``mini-racer``) per codec, holding the harness
and the codec script.

The harness (``harness.js``, package data) finds the codec's functions, runs them as the
network servers call them and turns what they return or throw into JSON. The codec
script wraps the codec's source so that V8's line numbers are the file's own.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import cache
from importlib.resources import files

from py_mini_racer import MiniRacer

#: loading (compiling, first run of the top-level code) may take longer than a call
LOAD_TIMEOUT_S = 1.0

# The codec script: the codec's source inside a factory function whose header sits on
# the source's first line, so V8's line numbers are the file's line numbers. The line
# after the source only reads names with ``typeof`` and cannot throw, so no error can
# ever point past the file's end. Everything else lives in a second script (its own
# sourceURL), so a harness problem never blames a line of the codec.
#
# The Things Stack (goja) and ChirpStack (QuickJS) give a codec no ``module`` and no
# ``exports``. So by default neither exists here either (``typeof module`` is
# "undefined", as compiled TypeScript codecs check). Only a codec whose top-level code
# fails *because* they are missing ("module is not defined") is loaded again with a
# CommonJS ``module``/``exports`` pair, and its functions may then come from
# ``module.exports`` -- read defensively, since a codec may have set it to anything.
_CODEC_PLAIN = "var __lm_factory = function () {"
_CODEC_CJS = "var __lm_factory = function (exports, module) {"
_CODEC_END_PLAIN = """
;return {decodeUplink: typeof decodeUplink === "function" ? decodeUplink : undefined, Decode: typeof Decode === "function" ? Decode : undefined, normalizeUplink: typeof normalizeUplink === "function" ? normalizeUplink : undefined};
};
"""
_CODEC_END_CJS = """
;return __lm_pick(module, exports, {decodeUplink: typeof decodeUplink === "function" ? decodeUplink : undefined, Decode: typeof Decode === "function" ? Decode : undefined, normalizeUplink: typeof normalizeUplink === "function" ? normalizeUplink : undefined});
};
"""

#: the harness's own sourceURL, so a harness problem never blames a line of the codec
HARNESS_URL = "lorawan-monitor-harness.js"
#: top-level errors that mean "this codec expects CommonJS module/exports"
NEEDS_CJS = re.compile(r"ReferenceError: (module|exports) is not defined")


@cache
def harness() -> str:
    """The harness script (``decoders/js/harness.js``, read as package data)."""
    return files("decoders.js").joinpath("harness.js").read_text(encoding="utf-8")


def codec_script(source: str, filename: str, *, cjs: bool) -> str:
    """The codec's source inside its factory function (``cjs``: with module/exports)."""
    head, tail = (_CODEC_CJS, _CODEC_END_CJS) if cjs else (_CODEC_PLAIN, _CODEC_END_PLAIN)
    return f"{head}{source}{tail}//# sourceURL={filename}\n"


class Isolate:
    """One V8 isolate holding one compiled codec. Not thread-safe; the decoder locks."""

    def __init__(self, script: str, *, memory_mb: int, timeout_s: float, cjs: bool) -> None:
        # Build the isolate in a helper thread: MiniRacer binds to the *running* asyncio
        # loop of the calling thread if there is one, and then cannot enforce timeouts
        # when called from that loop. A thread without a loop gets a private loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            self.mr = pool.submit(MiniRacer).result()
        limit = memory_mb * 1024 * 1024
        self.mr.set_hard_memory_limit(limit)
        self.mr.set_soft_memory_limit(limit * 3 // 4)
        load = max(timeout_s, LOAD_TIMEOUT_S)
        self.mr.eval(harness() + f"//# sourceURL={HARNESS_URL}\n", timeout_sec=load)
        self.mr.eval(script, timeout_sec=load)
        if cjs:
            self.mr.eval("__lm_cjs = true;", timeout_sec=load)

    def close(self) -> None:
        # a call cancelled by a timeout is still reported to mini-racer's loop; a
        # trivial call queued behind it makes sure that happened before the loop stops
        with suppress(Exception):
            self.mr.eval("0", timeout_sec=1.0)
        self.mr.close()
