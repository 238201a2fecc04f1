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


def test_make_reading_is_the_dataclass_reading() -> None:
    """The per-uplink constructor (#19) builds the same frozen ``Reading`` as ``__init__``."""
    import dataclasses

    from decoders.base import Reading, make_reading
    from decoders.quantities import Quantity

    fast = make_reading(Quantity.RELATIVE_HUMIDITY, 41.5, "internal")
    slow = Reading(quantity=Quantity.RELATIVE_HUMIDITY, value=41.5, sensor="internal")
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    try:
        fast.value = 1.0  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("make_reading's Reading is not frozen")


def test_normalize_table_warnings_in_table_order() -> None:
    """The table's warnings and readings keep the rows' order, whatever the raw types."""
    from decoders.base import Field, normalize_table
    from decoders.quantities import Quantity

    q = Quantity.TEMPERATURE
    fields = (
        Field(key="a", quantity=q, nodata=(327.67,)),
        Field(key="b", quantity=q),
        Field(key="c", quantity=q, optional=False),
        Field(key="d", quantity=q, scale=0.5, offset=1.0),
        Field(key="e", quantity=q),
        Field(key="f", quantity=q, nodata=("NULL",)),
        Field(key="g", quantity=q),
    )
    n = normalize_table(
        {"a": 327.67, "b": "x", "d": 4, "e": float("inf"), "f": "NULL", "g": True}, fields
    )
    assert [r.value for r in n.readings] == [3.0, 1.0]
    assert n.warnings == (
        "a: no data (327.67)",
        "b: not a number ('x')",
        "c: missing",
        "e: not a finite number",
        "f: no data ('NULL')",
    )
