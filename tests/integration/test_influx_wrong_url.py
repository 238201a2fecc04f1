"""A store URL that answers but is not InfluxDB never costs a point (issue #14).

Real influxd (the session fixture) against python's own ``http.server`` on loopback
playing "some other web server": 404 HTML, a 200 HTML page, a 400 in plain text, a
redirect. Only a line that InfluxDB itself rejects (400 with its JSON error) is dropped
and counted; anything else keeps the points in the durable buffer until InfluxDB answers.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.models import RawMessage
from ingest.service import IngestService
from lorawan_monitor.errors import ConfigError, SinkUnavailableError
from lorawan_monitor.settings import InfluxSettings
from simulator.fleet import default_fleet, generate
from storage.influx import InfluxStore
from tests.integration.helpers import settings_for
from tests.servers import Influxd

pytestmark = pytest.mark.integration

#: (status, content type, body, extra headers) that other web servers answer
ANSWERS = {
    "404_html": (404, "text/html", b"<html><title>Not Found</title></html>", {}),
    "200_html": (200, "text/html; charset=utf-8", b"<!doctype html><p>Welcome</p>", {}),
    "400_text": (400, "text/plain", b"Bad Request", {}),
    "301_redirect": (301, "text/html", b"", {"Location": "https://example.invalid/"}),
    "405_json": (405, "application/json", b'{"detail": "Method Not Allowed"}', {}),
}


@contextlib.contextmanager
def web_server(kind: str) -> Iterator[str]:
    status, ctype, body, headers = ANSWERS[kind]

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


LINE = "temperature,dev_eui=0011223344556677,device=t1 value=21.5 1764720000000000000"


@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_other_web_servers_are_unavailable_never_rejected(kind: str) -> None:
    with web_server(kind) as url:
        store = InfluxStore(InfluxSettings(url=url, timeout=5))
        try:
            with pytest.raises(ConfigError, match="LORAWAN_INFLUX__URL"):
                store.verify()
            with pytest.raises(SinkUnavailableError, match="LORAWAN_INFLUX__URL") as info:
                store.write_lines([LINE])
            assert str(ANSWERS[kind][0]) in str(info.value)
            assert store.ping() is False
        finally:
            store.close()


def test_influxdb_itself_passes_the_check_and_only_its_rejections_drop(
    influxd: Influxd, influx_db: str
) -> None:
    store = InfluxStore(InfluxSettings(url=influxd.url, database=influx_db))
    try:
        assert store.verify().startswith("1.")  # Debian's influxdb 1.6
        res = store.write_lines([LINE, "temperature,device=t2 value=oops 1764720000000000000"])
        assert (res.written, res.rejected) == (1, 1), res
        assert "InfluxDB rejected the data (400)" in res.reasons[0]
    finally:
        store.close()


def test_a_wrong_url_buffers_everything_until_influxdb_answers(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    settings = settings_for(1, influxd.url, influx_db, tmp_path)
    messages = list(generate(default_fleet(4, networks=("tts", "chirpstack")), count=40, seed=3))
    with web_server("404_html") as wrong:
        store = InfluxStore(InfluxSettings(url=wrong, database=influx_db))
        service = IngestService(settings, store=store)
        service.start(mqtt=False)
        try:
            for msg in messages:
                service.feed(RawMessage(topic=msg.topic, payload=msg.payload))
            deadline = time.monotonic() + 20
            while service.buffer.depth == 0 or service._processed < len(messages):
                assert time.monotonic() < deadline, service.buffer.stats()
                time.sleep(0.05)
            time.sleep(1.5)  # the writer has tried (and backed off) meanwhile
            buffered = service.buffer.depth
            assert buffered > 0 and service.points_rejected == 0 and service.points_written == 0
            # the operator fixes the URL: what waited in the buffer reaches InfluxDB
            service.store = InfluxStore(InfluxSettings(url=influxd.url, database=influx_db))
            assert service.wait_idle(30), service.buffer.stats()
            assert service.points_written == buffered and service.points_rejected == 0
        finally:
            service.stop()
            store.close()


def _standin(ping: httpx.Response, query: httpx.Response) -> InfluxStore:
    def handle(request: httpx.Request) -> httpx.Response:
        return ping if request.url.path == "/ping" else query

    return InfluxStore(
        InfluxSettings(url="http://influx.invalid:8086", token="t"),
        transport=httpx.MockTransport(handle),
    )


def test_influxdb_cloud_without_version_header_passes_standin() -> None:
    """InfluxDB Cloud sends no X-Influxdb-Version (InfluxData's /ping docs); its v1
    /query answers InfluxDB's JSON. Faked at the HTTP boundary: no Cloud here."""
    store = _standin(httpx.Response(204), httpx.Response(200, json={"results": [{}]}))
    assert store.verify() == "unknown"


def test_influxdb2_refusing_show_databases_passes_standin() -> None:
    """A 2.x whose v1 API answers SHOW DATABASES with its own JSON error is still InfluxDB."""
    store = _standin(
        httpx.Response(204, headers={"X-Influxdb-Version": "v2.7.11"}),
        httpx.Response(400, json={"code": "invalid", "message": "not supported"}),
    )
    assert store.verify() == "v2.7.11"


def test_refused_credentials_name_the_settings_standin() -> None:
    store = _standin(
        httpx.Response(204, headers={"X-Influxdb-Version": "v2.7.11"}),
        httpx.Response(401, json={"code": "unauthorized", "message": "unauthorized access"}),
    )
    with pytest.raises(ConfigError, match="LORAWAN_INFLUX__TOKEN"):
        store.verify()
