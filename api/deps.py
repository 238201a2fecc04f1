"""Dependencies as ``Annotated`` aliases. Everything comes from ``app.state`` (set by
``create_app``), so there are no singletons and tests override with
``app.dependency_overrides``.

API keys are hashed once when the app is built (:class:`KeyRing`); requests are
checked with :func:`hmac.compare_digest` against every hash, so the time taken does
not reveal which key nearly matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import ApiKeyError
from decoders.catalog import DecoderCatalog
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import Settings
from storage.base import TimeSeriesStore
from storage.registry_base import Registry

READ_SCHEME = "ReadKey"


@dataclass(frozen=True, kw_only=True)
class KeyRing:
    """SHA-256 digests of the configured API keys (the plain keys are not kept)."""

    digests: tuple[bytes, ...]

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> KeyRing:
        return cls(digests=tuple(_digest(k) for k in keys if k))

    def check(self, key: str | None) -> bool:
        if not key:
            return False
        d = _digest(key)
        found = False
        for known in self.digests:  # no early exit: constant work per request
            found |= hmac.compare_digest(d, known)
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def get_settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def get_store(request: Request) -> TimeSeriesStore:
    s: TimeSeriesStore = request.app.state.store
    return s


def get_registry(request: Request) -> Registry:
    r: Registry = request.app.state.registry
    return r


def get_decoders(request: Request) -> DecoderCatalog:
    d: DecoderCatalog = request.app.state.decoders
    return d


def get_state(request: Request) -> ServiceState:
    st: ServiceState = request.app.state.service_state
    return st


def get_clock(request: Request) -> Callable[[], datetime]:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock


def get_now(clock: Annotated[Callable[[], datetime], Depends(get_clock)]) -> datetime:
    now = clock()
    return now if now.tzinfo else now.replace(tzinfo=UTC)


_KEY_HELP = "API key (settings: LORAWAN_API__API_KEYS), header X-API-Key."
#: two schemes for the same header, so the spec can say "reads are public" (see main.py)
_read_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name=READ_SCHEME,
    auto_error=False,
    description=_KEY_HELP + " Needed for reads when LORAWAN_API__READ_ACCESS=key.",
)
_write_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description=_KEY_HELP + " Needed for edits and imports.",
)


def require_read(request: Request, key: Annotated[str | None, Security(_read_key)]) -> None:
    settings: Settings = request.app.state.settings
    if settings.api.read_access == "public":
        return
    ring: KeyRing = request.app.state.keyring
    if not ring.check(key):
        raise ApiKeyError(
            "this API needs a key for reads: send it in the X-API-Key header"
            if not key
            else "API key not accepted"
        )


def require_write(request: Request, key: Annotated[str | None, Security(_write_key)]) -> None:
    ring: KeyRing = request.app.state.keyring
    if not ring.digests:
        raise ApiKeyError("edits are disabled: no API keys configured (LORAWAN_API__API_KEYS)")
    if not ring.check(key):
        raise ApiKeyError(
            "this endpoint needs an API key in the X-API-Key header"
            if not key
            else "API key not accepted"
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[TimeSeriesStore, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
DecodersDep = Annotated[DecoderCatalog, Depends(get_decoders)]
StateDep = Annotated[ServiceState, Depends(get_state)]
NowDep = Annotated[datetime, Depends(get_now)]
ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
