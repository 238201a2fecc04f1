"""A poison uplink record is dropped alone; the rest of its batch lands (#11 point 4).

Before: f_cnt >= 2^63 ("Python int too large"), a decoded object nested 300 deep
(orjson reads 1,024 levels, writes 254) or a 64-bit-overflowing integer in it made the
whole ``record_uplinks`` batch fail: 107 of 200 good uplinks vanished from the journal
and the device status. Infrastructure errors still raise, so the caller can retry.
Runs on SQLite and the real PostgreSQL fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lorawan_monitor.errors import SinkUnavailableError
from storage.registry import SqlRegistry
from tests.storage.registry.test_contract import EUI, T0, rec


def _deep(n: int) -> dict[str, object]:
    d: dict[str, object] = {"v": 1}
    for _ in range(n):
        d = {"x": d}
    return d


POISONS: dict[str, dict[str, object]] = {
    "f_cnt_2_63": {"f_cnt": 2**63},
    "deep_object": {"decoded": _deep(300)},
    "int_beyond_64_bit": {"decoded": {"n": 2**70}},
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlRegistry]:
    if request.param == "sqlite":
        dsn = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        dsn = str(request.getfixturevalue("postgres_dsn"))
    r = SqlRegistry(dsn)
    yield r
    r.close()


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_one_poison_record_is_dropped_alone(reg: SqlRegistry, poison: str) -> None:
    good = [rec(i, key=f"70B3D57ED00001{i % 4:02X}") for i in range(1, 201)]
    fields = dict(POISONS[poison])
    at = T0 + timedelta(minutes=100)
    bad = rec(int(fields.pop("f_cnt", 100)), key=EUI, at=at, uplink_id="poison", **fields)  # type: ignore[arg-type]
    reg.record_uplinks([*good[:100], bad, *good[100:]])
    assert reg.rejected_records == 1
    total = sum(len(reg.journal(f"70B3D57ED00001{k:02X}", limit=1000)) for k in range(4))
    assert total == 200
    dev = reg.get_device("70B3D57ED0000100")
    assert dev is not None and dev.last_seen == good[-1].received_at  # i=200: key ...00
    assert reg.journal(EUI) == []


def test_infrastructure_errors_still_raise(tmp_path: Path) -> None:
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    reg.engine.dispose()
    (tmp_path / "registry.db").unlink()
    (tmp_path / "registry.db").mkdir()  # the database file is gone: cannot open
    try:
        with pytest.raises(SinkUnavailableError):
            reg.record_uplinks([rec(1)])
        assert reg.rejected_records == 0
    finally:
        reg.close()
