"""API input limits and security headers (#11 point 9, and point 2's PATCH cases).

Before: ``PATCH ?create=true`` took keys like ``\\x00``, ``../../../etc/passwd`` or ``*``
(readings for the NUL key answered 503); ``{"site": "Hafen\\\\"}``, ``{"tags": {"": "x"}}``,
``{"tags": {"time": "x"}}`` and 10,000 tags answered 200; ``/quantities`` was readable
without a key under READ_ACCESS=key; ``/installer`` sent no CSP or X-Frame-Options.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore
from tests.api.conftest import API_KEY, OK_EUI, Env, build_env, make_settings

AUTH = {"X-API-Key": API_KEY}


def _param(r: object) -> set[str]:
    body = r.json()  # type: ignore[attr-defined]
    return {e["parameter"] for e in body["errors"]}


@pytest.mark.parametrize("key", ["\x00", "../../../etc/passwd", "*", "tts:a", "tts:/x", "ab c"])
def test_create_refuses_keys_ingest_never_makes(env: Env, key: str) -> None:
    path = quote(key, safe="").replace(".", "%2E")  # sent as it is, not normalised
    r = env.client.patch(f"/api/v1/devices/{path}?create=true", json={"name": "x"}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert _param(r) == {"device_key"}  # the path parameter, named in the 422 (#12)


@pytest.mark.parametrize("key", ["70B3D57ED0009999", "tts:stadt-app/lht-1", "chirpstack:app/x"])
def test_create_takes_the_keys_ingest_makes(env: Env, key: str) -> None:
    r = env.client.patch(f"/api/v1/devices/{key}?create=true", json={"name": "x"}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_control_characters_in_a_device_key_are_422_not_503(env: Env) -> None:
    for path in ("/api/v1/devices/%00/readings", "/api/v1/devices/%00", "/api/v1/devices/%7F"):
        r = env.client.get(path, headers=AUTH)
        assert r.status_code == 422, (path, r.text)
        assert "device_key" in _param(r)
    # a newline does not even match a route (Starlette's path pattern): 404, never 5xx
    assert env.client.get("/api/v1/devices/a%0Ab", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"site": "Hafen\\"}, "site"),
        ({"site": "Ha\nfen"}, "site"),
        ({"tags": {"floor": "2\\"}}, "tags.floor"),
        ({"tags": {"": "x"}}, "tags..[key]"),
        ({"tags": {"time": "x"}}, "tags"),
        ({"tags": {"device": "x"}}, "tags"),
        ({"tags": {f"k{i}": "v" for i in range(10_000)}}, "tags"),
        ({"tags": {"floor": "x" * 201}}, "tags.floor"),
        ({"tags": {"floor": ""}}, "tags.floor"),
    ],
)
def test_site_and_tags_are_bounded_with_the_field_named(
    env: Env, body: dict[str, object], field: str
) -> None:
    r = env.client.patch(f"/api/v1/devices/{OK_EUI}", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert field in _param(r)


def test_good_tags_are_accepted(env: Env) -> None:
    r = env.client.patch(
        f"/api/v1/devices/{OK_EUI}",
        json={"site": "Hafen Süd", "tags": {"über": "Brücke 2", "floor": "2"}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == {"über": "Brücke 2", "floor": "2"}


@pytest.fixture
def env_small_body(tmp_path: Path) -> Iterator[Env]:
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "ts.db")
    yield from build_env(registry, store, make_settings(max_body_bytes=4096))
    store.close()
    registry.close()


def test_body_size_limit_answers_413(env_small_body: Env) -> None:
    c = env_small_body.client
    big = {"notes": "x" * 5000}
    r = c.patch(f"/api/v1/devices/{OK_EUI}", json=big, headers=AUTH)
    assert r.status_code == 413 and "4096" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"notes": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = c.patch(
        f"/api/v1/devices/{OK_EUI}",
        content=chunks(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert c.patch(f"/api/v1/devices/{OK_EUI}", json={"notes": "ok"}, headers=AUTH).is_success


@pytest.fixture
def env_key_reads(tmp_path: Path) -> Iterator[Env]:
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "ts.db")
    yield from build_env(registry, store, make_settings(read_access="key"))
    store.close()
    registry.close()


def test_quantities_need_a_key_when_reads_do(env_key_reads: Env) -> None:
    c = env_key_reads.client
    assert c.get("/api/v1/quantities").status_code == 401
    assert c.get("/api/v1/quantities", headers=AUTH).status_code == 200


@pytest.mark.parametrize("path", ["/installer", "/installer/installer.js", "/api/v1/devices"])
def test_security_headers_on_the_page_and_the_api(env: Env, path: str) -> None:
    r = env.client.get(path)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp  # nothing from other origins
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_errors_carry_the_headers_too(env: Env) -> None:
    r = env.client.get("/api/v1/devices/00000000000000FF")
    assert r.status_code == 404 and r.headers["x-frame-options"] == "DENY"
