"""Bring the ``name`` and ``site`` tags of stored points up to the registry's current values.

The dashboards show a device by its tags ``name`` and ``site``, which ingest writes from
the registry when a point is stored. After a devices-file import or an edit, points
written before carry the old values (or none). ``lorawan-monitor retag`` rewrites them:
per device and measurement it reads every series of the device (``GROUP BY *``), writes
the points of each series whose tags are out of date again with the new tags (same
timestamps and field types), and only then drops the old series (``DROP SERIES`` with
exactly its tag set). A crash in between leaves both copies, never none; running it again
finishes the job (idempotent).

InfluxDB v1 API only (InfluxDB 1.x; the 2.x/3.x compatibility API does not serve
``DROP SERIES``). The embedded SQLite store is not supported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from lorawan_monitor.errors import ConfigError, SinkError
from lorawan_monitor.settings import InfluxSettings

#: tags ``retag`` may change; everything else of a series stays as it is
RETAGGED = ("name", "site")


@dataclass(frozen=True, kw_only=True)
class Wanted:
    """The tag values a device's points should carry (from the registry)."""

    dev_eui: str
    name: str
    site: str  # "" = no site


@dataclass
class RetagSummary:
    devices: int = 0
    series: int = 0
    points: int = 0
    changed: dict[str, int] = field(default_factory=dict)  # measurement -> series rewritten


def _esc_key(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _esc_meas(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _lit(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(value: Any, kind: str) -> str:
    if kind == "string":
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind == "integer":
        return f"{int(value)}i"
    if kind == "boolean":
        return "true" if value else "false"
    return repr(float(value))


class InfluxV1:
    """The few InfluxDB v1 calls ``retag`` needs (``/query`` GET and POST, ``/write``)."""

    def __init__(self, client: httpx.Client, database: str) -> None:
        self.client = client
        self.database = database

    def query(self, q: str, *, post: bool = False) -> list[dict[str, Any]]:
        params = {"db": self.database, "q": q, "epoch": "ns"}
        try:
            r = (
                self.client.post("/query", params=params)
                if post
                else self.client.get("/query", params=params)
            )
        except httpx.HTTPError as exc:
            raise SinkError(f"InfluxDB unreachable: {exc}") from exc
        if r.status_code != 200:
            raise SinkError(f"InfluxDB answered {r.status_code} to {q[:80]!r}: {r.text[:200]}")
        out: list[dict[str, Any]] = []
        for res in r.json().get("results", []):
            if "error" in res:
                raise SinkError(f"InfluxQL error: {res['error']} in {q[:120]!r}")
            out += res.get("series", [])
        return out

    def write(self, lines: list[str]) -> None:
        for i in range(0, len(lines), 5000):
            r = self.client.post(
                "/write",
                params={"db": self.database, "precision": "ns"},
                content="\n".join(lines[i : i + 5000]).encode(),
            )
            if r.status_code != 204:
                raise SinkError(f"InfluxDB refused the rewrite ({r.status_code}): {r.text[:200]}")


def _field_types(db: InfluxV1) -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    for s in db.query("SHOW FIELD KEYS"):
        types[s["name"]] = {str(k): str(t) for k, t in s["values"]}
    return types


def _measurements_of(db: InfluxV1, dev_eui: str) -> list[str]:
    rows = db.query(f'SHOW MEASUREMENTS WHERE "dev_eui" = {_lit(dev_eui)}')
    return [v[0] for s in rows for v in s["values"]]


def _lines(
    measurement: str,
    tags: Mapping[str, str],
    columns: list[str],
    values: list[list[Any]],
    types: Mapping[str, str],
) -> Iterator[str]:
    head = ",".join(
        [_esc_meas(measurement)]
        + [f"{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(tags.items()) if v]
    )
    for row in values:
        fields = [
            f"{_esc_key(c)}={_field(v, types.get(c, 'float'))}"
            for c, v in zip(columns[1:], row[1:], strict=True)
            if v is not None
        ]
        if fields:
            yield f"{head} {','.join(fields)} {row[0]}"


def retag_device(
    db: InfluxV1, want: Wanted, types: Mapping[str, Mapping[str, str]], summary: RetagSummary
) -> None:
    for m in _measurements_of(db, want.dev_eui):
        q = f'SELECT * FROM {_ident(m)} WHERE "dev_eui" = {_lit(want.dev_eui)} GROUP BY *'
        for s in db.query(q):
            old = dict(s.get("tags", {}))
            new = {**old, "name": want.name, "site": want.site}
            summary.series += 1
            if all(old.get(k, "") == new[k] for k in RETAGGED):
                continue
            lines = list(_lines(m, new, s["columns"], s["values"], types.get(m, {})))
            db.write(lines)
            # exactly the old series: a retagged key it lacked must stay absent ('' matches
            # a missing tag), or the condition would match the series just written too
            exact = {**dict.fromkeys(RETAGGED, ""), **old}
            cond = " AND ".join(f"{_ident(k)} = {_lit(v)}" for k, v in sorted(exact.items()))
            db.query(f"DROP SERIES FROM {_ident(m)} WHERE {cond}", post=True)
            summary.points += len(lines)
            summary.changed[m] = summary.changed.get(m, 0) + 1


def retag(db: InfluxV1, devices: Iterable[Wanted]) -> RetagSummary:
    """Rewrite every series whose ``name``/``site`` differ from the registry's."""
    summary = RetagSummary()
    types = _field_types(db)
    for want in devices:
        if not want.dev_eui:
            continue
        summary.devices += 1
        retag_device(db, want, types, summary)
    return summary


def credentials(inf: InfluxSettings) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """The headers and auth of a v1-API client for ``LORAWAN_INFLUX__*``: the token as
    ``Authorization: Token`` (2.x/3.x compatibility), else basic auth (1.x users)."""
    headers = {"User-Agent": "lorawan-monitor"}
    auth: httpx.BasicAuth | None = None
    if inf.token is not None:
        headers["Authorization"] = f"Token {inf.token.get_secret_value()}"
    elif inf.username:
        auth = httpx.BasicAuth(
            inf.username, inf.password.get_secret_value() if inf.password else ""
        )
    return headers, auth


def client_for(url: str | None, api: str, headers: dict[str, str], auth: Any) -> httpx.Client:
    if not url:
        raise ConfigError(
            "retag rewrites points in InfluxDB: set LORAWAN_INFLUX__URL (the embedded store "
            "is not supported)"
        )
    if api != "v1":
        raise ConfigError(
            f"retag needs InfluxDB's v1 API (DROP SERIES); LORAWAN_INFLUX__API is {api!r}"
        )
    return httpx.Client(base_url=url, headers=headers, auth=auth, timeout=120)
