"""One escaping rule for line protocol, proven by property against a real influxd and the
SQLite store's reader (#11 points 1 and 2).

The rule (``storage/lineprotocol.py``): control characters become spaces, lone
surrogates U+FFFD, a backslash at the end or before ``, = space`` becomes ``/``; the rest
is stored exactly. So for every string ``s``, what comes back is ``clean(s)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from storage.base import Point
from storage.influx import InfluxStore, quote_ident
from storage.lineprotocol import RESERVED_TAG_KEYS, clean, clean_text, line, parse_line
from storage.sqlite import SqliteStore
from tests.conftest import influx_store_for

#: every code point, lone surrogates included (JSON can carry "\ud800")
ANY_CHAR = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(list('\\,= "\n\r\t\x00=#~') + ["\ud800", "\udfff", "ü"]),
)
TEXT = st.text(ANY_CHAR, min_size=1, max_size=30)
_t = itertools.count(1_700_000_000_000_000_000, 1_000_000)


def _point(meas: str, key: str, value: str, sval: str, t: int) -> Point:
    return Point(
        measurement=meas,
        tags={key: value, "device": "d"},
        fields={"value": 1.5, "s": sval},
        time_ns=t,
    )


def _usable(meas: str, key: str, value: str) -> None:
    assume(clean(meas).lstrip("#") != "" and not clean(meas).startswith("#"))
    assume(key not in RESERVED_TAG_KEYS and key not in ("device", "value", "s"))
    assume(clean(key) not in ("device", "value", "s"))


def test_the_issue_strings_survive() -> None:
    """#11: a quote in a tag made the buffered line unreadable; a trailing backslash got
    the line refused; a newline became a literal ``\\n``; ``""``/``time`` reached the wire."""
    p = Point(
        measurement="temperature",
        tags={"application": 'Stadtwerke 5" Nord', "site": "trail\\", "x": "a\nb", "": "e"},
        fields={"value": 1.0},
        time_ns=1,
    )
    back = parse_line(line(p))
    assert back.tags == {"application": 'Stadtwerke 5" Nord', "site": "trail/", "x": "a b"}
    t = Point(measurement="m", tags={"time": "x", "floor": "2\\"}, fields={"value": 1.0}, time_ns=1)
    assert parse_line(line(t)).tags == {"floor": "2/"}


@given(meas=TEXT, key=TEXT, value=TEXT, sval=st.text(ANY_CHAR, max_size=30))
def test_parse_line_reads_back_exactly_the_cleaned_point(
    meas: str, key: str, value: str, sval: str
) -> None:
    _usable(meas, key, value)
    p = _point(meas, key, value, sval, 5)
    back = parse_line(line(p))
    assert back.measurement == clean(meas)
    assert back.tags == {clean(key): clean(value), "device": "d"}
    assert back.fields == {"value": 1.5, "s": clean_text(sval)}
    assert back.time_ns == 5
    assert "\n" not in line(p)


@pytest.fixture(scope="module")
def influx(request: pytest.FixtureRequest) -> Iterator[InfluxStore]:
    s = influx_store_for(request)
    yield s
    s.close()


@pytest.fixture(scope="module")
def influx_db(influxd: object) -> Iterator[str]:  # module-scoped override of the conftest one
    import uuid

    name = "lp_" + uuid.uuid4().hex[:10]
    influxd.create_database(name)  # type: ignore[attr-defined]
    yield name
    influxd.drop_database(name)  # type: ignore[attr-defined]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(meas=TEXT, key=TEXT, value=TEXT, sval=st.text(ANY_CHAR, max_size=30))
def test_any_string_roundtrips_through_influxd(
    influx: InfluxStore, meas: str, key: str, value: str, sval: str
) -> None:
    _usable(meas, key, value)
    t = next(_t)
    res = influx.write_lines([line(_point(meas, key, value, sval, t))])
    assert res.rejected == 0, res.reasons
    q = f"SELECT * FROM {quote_ident(clean(meas))} WHERE time = {t} GROUP BY *"
    [result] = influx.query_raw(q)
    [series] = result["series"]
    assert series["name"] == clean(meas)
    tags = {k: v for k, v in series["tags"].items() if v}  # GROUP BY * lists every key
    assert tags == {clean(key): clean(value), "device": "d"}
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row["value"] == 1.5
    assert row["s"] == clean_text(sval)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=TEXT, value=TEXT)
def test_any_tag_roundtrips_through_the_sqlite_store(tmp_path: Path, key: str, value: str) -> None:
    _usable("m", key, value)
    store = SqliteStore(tmp_path / f"{abs(hash((key, value)))}.db")
    try:
        p = parse_line(line(_point("temperature", key, value, "", 10**18)))
        store.write([p])
        ck = clean(key)
        [s] = store.query(
            "temperature",
            start=datetime(2000, 1, 1, tzinfo=UTC),
            end=datetime(2100, 1, 1, tzinfo=UTC),
            where={ck: clean(value)},
            group_by=(ck,),
        )
        assert s.tags == {ck: clean(value)}
        assert [pt.value for pt in s.points] == [1.5]
    finally:
        store.close()


@pytest.mark.parametrize(
    "text",
    [
        "m",
        "m f=1 1",
        "m,t f=1 1",
        "m,=x f=1 1",
        'm s="open 1',
        "m f=xyz 1",
        "m f=1 abc",
        "m f=1",
    ],
)
def test_parse_line_refuses_broken_lines_with_valueerror(text: str) -> None:
    if text == "m f=1 1":
        assert parse_line(text).fields == {"f": 1.0}
        return
    with pytest.raises(ValueError, match="not a line-protocol line"):
        parse_line(text)
