"""The InfluxDB sink's error classes (#12).

A real influxd answers what it can: partial writes (a field-type conflict, an unparseable
line) come from the real server. What influxd 1.6 never answers — 413, 429 with
Retry-After, the v2/v3 write endpoints and token auth — is played by a stand-in at the HTTP
boundary (httpx's ``transport=``), and those tests say so in their names.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from lorawan_monitor.errors import SinkAuthError, SinkRejectedError, SinkUnavailableError
from lorawan_monitor.settings import InfluxSettings
from storage.influx import InfluxStore
from tests.servers import Influxd

Handler = Callable[[httpx.Request], httpx.Response]


def _standin(handler: Handler, **settings: object) -> tuple[InfluxStore, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    cfg = InfluxSettings(url="http://influx.invalid:8086", **settings)  # type: ignore[arg-type]
    return InfluxStore(cfg, transport=httpx.MockTransport(record)), seen


def _lines(n: int) -> list[str]:
    return [
        f"temperature,device=d{i} value={i}.5 {1_700_000_000_000_000_000 + i}" for i in range(n)
    ]


# -- the real server ------------------------------------------------------------------


def test_partial_write_type_conflict_real_influxd(influxd: Influxd, influx_db: str) -> None:
    store = InfluxStore(InfluxSettings(url=influxd.url, database=influx_db))
    try:
        assert store.write_lines(["m,device=a value=1 1700000000000000000"]).written == 1
        res = store.write_lines(
            [
                'm,device=b value="text" 1700000000000000001',  # field type conflict
                "m,device=c value=3 1700000000000000002",
                "m,device=d value=4 1700000000000000003",
            ]
        )
        assert (res.written, res.rejected) == (2, 1)
        assert res.reasons and "conflict" in res.reasons[0]
        assert store.count("m") == 3
    finally:
        store.close()


def test_unparseable_line_is_isolated_by_halving_real_influxd(
    influxd: Influxd, influx_db: str
) -> None:
    store = InfluxStore(InfluxSettings(url=influxd.url, database=influx_db))
    try:
        lines = _lines(7)
        lines.insert(3, "temperature,device=x value= 1700000000000000099")  # no field value
        res = store.write_lines(lines)
        assert res.rejected == 1
        assert res.written == 7
        assert store.count("temperature") == 7
    finally:
        store.close()


# -- answers influxd 1.6 never gives: a stand-in at the HTTP boundary ----------------------


def test_413_splits_the_batch_in_halves_standin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = request.content.count(b"\n") + 1
        return httpx.Response(413, json={"error": "too large"}) if n > 2 else httpx.Response(204)

    store, seen = _standin(handler)
    res = store.write_lines(_lines(8))
    assert (res.written, res.rejected) == (8, 0)
    sizes = [r.content.count(b"\n") + 1 for r in seen]
    assert sizes == [8, 4, 2, 2, 4, 2, 2]


def test_413_on_a_single_line_rejects_that_line_only_standin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(413) if b"device=d1 " in request.content else httpx.Response(204)

    store, _ = _standin(handler)
    res = store.write_lines(_lines(4))
    assert (res.written, res.rejected) == (3, 1)
    assert "larger than the server accepts" in res.reasons[0]


def test_400_halves_down_to_the_bad_line_standin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b"device=d5 " in request.content:
            return httpx.Response(400, json={"error": "bad line"})
        return httpx.Response(204)

    store, seen = _standin(handler)
    res = store.write_lines(_lines(8))
    assert (res.written, res.rejected) == (7, 1)
    assert "bad line" in res.reasons[0]
    assert len(seen) > 1


def test_429_is_unavailable_with_retry_after_standin() -> None:
    store, _ = _standin(lambda r: httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(SinkUnavailableError) as info:
        store.write_lines(_lines(3))
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable_not_rejected_standin(status: int) -> None:
    store, _ = _standin(lambda r: httpx.Response(status, text="overloaded"))
    with pytest.raises(SinkUnavailableError, match=str(status)):
        store.write_lines(_lines(3))


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_are_auth_errors_standin(status: int) -> None:
    store, _ = _standin(lambda r: httpx.Response(status, json={"error": "no"}))
    with pytest.raises(SinkAuthError, match=str(status)):
        store.write_lines(_lines(1))


def test_network_error_is_unavailable_standin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    store, _ = _standin(handler)
    with pytest.raises(SinkUnavailableError, match="unreachable"):
        store.write_lines(_lines(1))


def test_write_raises_rejected_when_lines_were_refused_standin() -> None:
    store, _ = _standin(lambda r: httpx.Response(400, json={"error": "unable to parse"}))
    from storage.base import Point

    with pytest.raises(SinkRejectedError, match="rejected 1 of 1"):
        store.write(
            [Point(measurement="m", tags={"device": "a"}, fields={"value": 1.0}, time_ns=1)]
        )


def test_v2_endpoint_and_token_standin() -> None:
    store, seen = _standin(
        lambda r: httpx.Response(204), api="v2", org="amt", bucket="lorawan", token="t0k"
    )
    assert store.write_lines(_lines(2)).written == 2
    req = seen[0]
    assert req.url.path == "/api/v2/write"
    assert dict(req.url.params) == {"org": "amt", "bucket": "lorawan", "precision": "ns"}
    assert req.headers["Authorization"] == "Token t0k"


def test_v3_endpoint_and_bearer_token_standin() -> None:
    store, seen = _standin(lambda r: httpx.Response(204), api="v3", database="lw", token="t0k")
    assert store.write_lines(_lines(1)).written == 1
    req = seen[0]
    assert req.url.path == "/api/v3/write_lp"
    assert dict(req.url.params) == {"db": "lw", "precision": "nanosecond"}
    assert req.headers["Authorization"] == "Bearer t0k"


def test_v1_retention_policy_and_basic_auth_standin() -> None:
    store, seen = _standin(
        lambda r: httpx.Response(204),
        database="lw",
        retention_policy="year",
        username="writer",
        password="pw",
    )
    store.write_lines(_lines(1))
    req = seen[0]
    assert req.url.path == "/write"
    assert dict(req.url.params) == {"db": "lw", "precision": "ns", "rp": "year"}
    assert req.headers["Authorization"].startswith("Basic ")
