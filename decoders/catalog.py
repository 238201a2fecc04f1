"""The decoder catalog: model id (``brand/model``, TTN Device Repository) -> decoder.

(Not the device registry, :mod:`storage.registry`, which holds devices and their status.)

Native decoders register themselves with ``@register`` at import time;
``decoders.vendors`` imports every vendor module explicitly. A duplicate id fails
at import. External codecs (JavaScript) are added to a *copy* of the catalog at
runtime (``DecoderCatalog.with_decoder``), so the native catalog stays static.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import TypeVar

from decoders.base import Decoder
from decoders.errors import UnknownModelError

MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$")

D = TypeVar("D", bound=type[Decoder])


class DecoderCatalog:
    def __init__(self) -> None:
        self._by_id: dict[str, Decoder] = {}

    def add(self, model_id: str, decoder: Decoder, *, replace: bool = False) -> None:
        if not MODEL_ID_RE.match(model_id):
            raise ValueError(f"model id {model_id!r} must be lowercase 'brand/model'")
        if model_id in self._by_id and not replace:
            raise ValueError(f"model id {model_id!r} registered twice")
        self._by_id[model_id] = decoder

    def get(self, model_id: str) -> Decoder:
        try:
            return self._by_id[model_id]
        except KeyError:
            close = self.closest(model_id)
            hint = f"; closest known: {', '.join(close)}" if close else ""
            raise UnknownModelError(f"no decoder for model {model_id!r}{hint}") from None

    def find(
        self, model_id: str | None, versions: Mapping[str, str] | None = None
    ) -> Decoder | None:
        """The decoder of a model, or None. ``versions`` (TTS ``version_ids``:
        firmware_version, hardware_version, band_id) matter only to registries that pick
        a codec per version (:class:`decoders.repository.RepositoryCatalog`)."""
        if model_id is None:
            return None
        return self._by_id.get(model_id)

    def closest(self, model_id: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(model_id, list(self._by_id), n=n, cutoff=0.4)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_id))

    def items_ids(self) -> frozenset[str]:
        """The ids registered explicitly (a repository catalog resolves more on demand)."""
        return frozenset(self._by_id)

    def items(self) -> list[tuple[str, Decoder]]:
        return sorted(self._by_id.items())

    def copy(self) -> DecoderCatalog:
        new = DecoderCatalog()
        new._by_id = dict(self._by_id)
        return new

    def with_decoder(self, model_id: str, decoder: Decoder) -> DecoderCatalog:
        """A copy with one more (or one replaced) decoder, e.g. a JavaScript codec."""
        new = self.copy()
        new.add(model_id, decoder, replace=True)
        return new


#: The catalog of native decoders (filled by ``decoders.vendors`` at import).
NATIVE = DecoderCatalog()


def register(cls: D) -> D:
    """Class decorator: instantiate the decoder and register it under each of its model ids."""
    instance = cls()
    for model_id in cls.model_ids:
        NATIVE.add(model_id, instance)
    return cls
