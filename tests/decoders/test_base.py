"""The Decoder base declares what ``decoders.decode`` uses: no probing by name (#12)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from decoders import NATIVE, decode
from decoders.base import Decoder
from decoders.catalog import DecoderCatalog

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class _Clocked(Decoder):
    model_ids: ClassVar[tuple[str, ...]] = ("test/clocked",)
    takes_recv_time: ClassVar[bool] = True

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"time": None}

    def decode_received(
        self,
        payload: bytes,
        f_port: int,
        variables: Mapping[str, Any] | None = None,
        *,
        recv_time: datetime,
    ) -> dict[str, Any]:
        return {"time": recv_time.isoformat()}


def test_every_native_decoder_declares_it_takes_no_receive_time() -> None:
    decoders = [d for _, d in NATIVE.items()]
    assert len(decoders) > 10
    assert all(d.takes_recv_time is False for d in decoders)


def test_a_decoder_that_declares_the_receive_time_gets_it_through_decode_received() -> None:
    catalog = DecoderCatalog()
    catalog.add("test/clocked", _Clocked())
    got = decode("test/clocked", b"\x01", 1, catalog=catalog, recv_time=T0)
    assert got.decoded == {"time": T0.isoformat()}
    assert decode("test/clocked", b"\x01", 1, catalog=catalog).decoded == {"time": None}
