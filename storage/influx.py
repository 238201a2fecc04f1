"""InfluxDB store: line protocol on the write endpoint, InfluxQL on ``/query``.

Speaks InfluxDB's v1 HTTP API (InfluxDB 1.x natively; 2.x and 3.x serve it for
compatibility). The write endpoint can also be the v2 (``/api/v2/write``, org +
bucket) or v3 (``/api/v3/write_lp``) one, with token auth, as ChirpStack's own
InfluxDB integration offers. One ``httpx.Client`` is created per store and reused.

Write errors are classified (Telegraf ``influxdb_v2/http.go`` habits):

* network error, timeout, 429, 5xx -> ``SinkUnavailableError`` (retry later; Retry-After kept)
* 413 -> the batch is split in halves and retried
* 400 / 422 with InfluxDB's own JSON error body -> the batch is split to isolate the bad
  lines, which are dropped and counted (``WriteResult.rejected``, each with its reason in
  ``rejected_lines``); the good lines are written
* 401 / 403 -> ``SinkAuthError``
* anything else (404, 405, a redirect, an HTML page, a 400 without InfluxDB's error body):
  the URL does not lead to InfluxDB's write endpoint -> ``SinkUnavailableError``, so the
  points stay buffered: a typo in ``LORAWAN_INFLUX__URL`` must never cost data.

:meth:`InfluxStore.verify` checks at start that the URL is an InfluxDB at all (``/ping``
with its ``X-Influxdb-Version`` header, ``/query`` answering InfluxDB's JSON).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from lorawan_monitor.errors import (
    ConfigError,
    SinkAuthError,
    SinkError,
    SinkRejectedError,
    SinkUnavailableError,
)
from lorawan_monitor.settings import InfluxSettings
from storage.base import (
    GROUP_AGGREGATES,
    Aggregate,
    GroupAggregate,
    Point,
    PointQuery,
    Series,
    SeriesPoint,
    WriteResult,
    to_ns,
)
from storage.lineprotocol import lines as to_lines

log = logging.getLogger(__name__)

_AGGREGATES = {"mean", "min", "max", "sum", "count", "last", "first"}


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )


class InfluxStore:
    def __init__(
        self,
        settings: InfluxSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not settings.url:
            raise ValueError("InfluxStore needs settings.url")
        self.settings = settings
        headers = {"User-Agent": "lorawan-monitor"}
        auth: httpx.BasicAuth | None = None
        if settings.token is not None:
            scheme = "Bearer" if settings.api == "v3" else "Token"
            headers["Authorization"] = f"{scheme} {settings.token.get_secret_value()}"
        elif settings.username:
            pw = settings.password.get_secret_value() if settings.password else ""
            auth = httpx.BasicAuth(settings.username, pw)
        self._client = httpx.Client(
            base_url=settings.url,
            headers=headers,
            auth=auth,
            timeout=settings.timeout,
            transport=transport,
        )
        self._write_path, self._write_params = self._write_endpoint()
        self._db_checked = False

    def _write_endpoint(self) -> tuple[str, dict[str, str]]:
        s = self.settings
        if s.api == "v2":
            return "/api/v2/write", {
                "org": s.org or "",
                "bucket": s.bucket or "",
                "precision": "ns",
            }
        if s.api == "v3":
            return "/api/v3/write_lp", {"db": s.database, "precision": "nanosecond"}
        params = {"db": s.database, "precision": "ns"}
        if s.retention_policy:
            params["rp"] = s.retention_policy
        return "/write", params

    # -- identity and reachability -------------------------------------------------

    def _unreachable(self, exc: httpx.HTTPError) -> SinkUnavailableError:
        """The network error in an operator's words, naming the setting."""
        text = str(exc)
        low = text.lower()
        if isinstance(exc, httpx.TimeoutException):
            why = f"no answer within {self.settings.timeout:g} s (LORAWAN_INFLUX__TIMEOUT)"
        elif "name or service not known" in low or "name resolution" in low or "nodename" in low:
            why = f"host {httpx.URL(self.settings.url or '').host!r} not found"
        elif "refused" in low:
            why = "connection refused (nothing listens there)"
        elif "ssl" in low or "certificate" in low:
            why = f"TLS failed ({text}); an http:// InfluxDB needs an http:// URL"
        else:
            why = text or type(exc).__name__
        return SinkUnavailableError(
            f"InfluxDB at {self.settings.url} unreachable: {why} — check LORAWAN_INFLUX__URL "
            "and that InfluxDB runs"
        )

    def _not_influx(self, r: httpx.Response, what: str) -> SinkUnavailableError:
        return SinkUnavailableError(
            f"{self.settings.url}: {what} answered {_describe(r)}, not like InfluxDB — "
            "check LORAWAN_INFLUX__URL / LORAWAN_INFLUX__API"
        )

    def verify(self) -> str:
        """Check that ``LORAWAN_INFLUX__URL`` leads to an InfluxDB; return its version.

        ``ConfigError`` when something answers that is not InfluxDB (another web server,
        a path in the URL) or when it refuses the credentials; ``SinkUnavailableError``
        when nothing answers (it may come up later: ingest buffers meanwhile)."""
        url = self.settings.url
        try:
            ping = self._client.get("/ping")
            query = self._client.get("/query", params={"q": "SHOW DATABASES"})
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        version = ping.headers.get("X-Influxdb-Version")
        influx_json = _influx_json(query) is True
        if query.status_code in (401, 403) and influx_json:
            raise ConfigError(
                f"InfluxDB at {url} refused the credentials ({query.status_code}: "
                f"{_error_text(query)}) — check LORAWAN_INFLUX__USERNAME / "
                "LORAWAN_INFLUX__PASSWORD (or LORAWAN_INFLUX__TOKEN)"
            )
        pinged = ping.status_code in (200, 204) and version is not None
        # InfluxDB Cloud sends no version header; its v1 /query still answers InfluxDB's JSON
        if not pinged and not influx_json:
            raise ConfigError(
                f"LORAWAN_INFLUX__URL={url} does not answer like InfluxDB: GET /ping gave "
                f"{_describe(ping)} without an X-Influxdb-Version header, GET /query gave "
                f"{_describe(query)} — check the URL (InfluxDB's base URL, port 8086 by "
                "default, no path)"
            )
        # any InfluxDB JSON will do (2.x / 3.x may refuse SHOW DATABASES in their v1 API)
        if self.settings.api == "v1" and not influx_json:
            raise ConfigError(
                f"LORAWAN_INFLUX__URL={url}: InfluxDB {version or ''} answers /ping but its "
                f"v1 query API gave {_describe(query)} — check LORAWAN_INFLUX__URL / "
                "LORAWAN_INFLUX__API (v2, v3)"
            )
        return version or "unknown"

    # -- writing -------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """The store protocol's preparation: create the v1 database (best effort)."""
        self.ensure_database()

    def ensure_database(self) -> None:
        """Create the v1 database if it does not exist (needs admin rights; best effort)."""
        if self.settings.api != "v1" or self._db_checked:
            return
        try:
            r = self._client.post(
                "/query", params={"q": f"CREATE DATABASE {quote_ident(self.settings.database)}"}
            )
            if r.status_code in (401, 403):
                log.warning("cannot create database %s: not authorised", self.settings.database)
            self._db_checked = r.status_code < 500
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def write(self, points: Sequence[Point]) -> None:
        """Write points; raise SinkRejectedError if any line was rejected."""
        res = self.write_lines(to_lines(points).split("\n") if points else [])
        if res.rejected:
            raise SinkRejectedError(
                f"InfluxDB rejected {res.rejected} of {res.rejected + res.written} points: "
                + "; ".join(res.reasons[:3])
            )

    def write_lines(self, body_lines: Sequence[str]) -> WriteResult:
        """Write line-protocol lines; split on 413/4xx; raise Unavailable/Auth errors."""
        result = WriteResult()
        body_lines = [ln for ln in body_lines if ln]
        if body_lines:
            self._write_split(body_lines, result)
        return result

    def _write_split(self, body_lines: Sequence[str], result: WriteResult) -> None:
        try:
            self._post("\n".join(body_lines))
            result.written += len(body_lines)
        except _TooLarge:
            if len(body_lines) == 1:
                result.rejected += 1
                why = "a single line is larger than the server accepts"
                result.reasons.append(why)
                result.rejected_lines.append((body_lines[0], why))
                return
            mid = len(body_lines) // 2
            self._write_split(body_lines[:mid], result)
            self._write_split(body_lines[mid:], result)
        except SinkRejectedError as exc:
            if len(body_lines) == 1:
                result.rejected += 1
                result.reasons.append(str(exc))
                result.rejected_lines.append((body_lines[0], str(exc)))
                return
            # InfluxDB 1.x wrote the good lines of a partial write already; writing them
            # again is idempotent, and splitting finds exactly the refused lines (#11)
            mid = len(body_lines) // 2
            self._write_split(body_lines[:mid], result)
            self._write_split(body_lines[mid:], result)

    def _post(self, body: str) -> None:
        try:
            r = self._client.post(
                self._write_path,
                params=self._write_params,
                content=body.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if r.status_code == 204 or (r.status_code == 200 and _influx_json(r) is not False):
            return
        if r.status_code == 200:
            raise self._not_influx(r, f"the write endpoint {self._write_path}")
        msg = _error_text(r)
        if r.status_code == 413:
            raise _TooLarge(msg)
        if r.status_code in (401, 403):
            raise SinkAuthError(f"InfluxDB refused the credentials ({r.status_code}): {msg}")
        if r.status_code == 404 and "database not found" in msg:
            self._db_checked = False
            self.ensure_database()
            raise SinkUnavailableError(f"InfluxDB: {msg} (tried to create it)")
        if r.status_code == 429 or r.status_code >= 500:
            raise SinkUnavailableError(
                f"InfluxDB answered {r.status_code}: {msg}",
                retry_after=_retry_after(r),
            )
        if r.status_code in (400, 422) and _influx_json(r):
            # InfluxDB itself says the data is malformed: only then is a point dropped
            raise SinkRejectedError(f"InfluxDB rejected the data ({r.status_code}): {msg}")
        raise self._not_influx(r, f"the write endpoint {self._write_path}")

    # -- querying ------------------------------------------------------------------

    def query_raw(self, q: str, *, epoch: str = "ns") -> list[dict[str, Any]]:
        """Run InfluxQL; return the ``results`` list. Errors are classified."""
        try:
            r = self._client.get(
                "/query", params={"db": self.settings.database, "q": q, "epoch": epoch}
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if r.status_code in (401, 403):
            raise SinkAuthError(f"InfluxDB refused the credentials ({r.status_code})")
        if r.status_code >= 500 or r.status_code == 429:
            raise SinkUnavailableError(f"InfluxDB answered {r.status_code}: {_error_text(r)}")
        if not _influx_json(r):
            raise self._not_influx(r, "the query endpoint /query")
        if r.status_code != 200:
            raise SinkRejectedError(
                f"InfluxDB rejected the query ({r.status_code}): {_error_text(r)}"
            )
        data = r.json()
        results: list[dict[str, Any]] = data.get("results", [])
        for res in results:
            if "error" in res:
                if "database not found" in res["error"]:
                    return []
                raise SinkError(f"InfluxQL error: {res['error']}")
        return results

    def query(
        self,
        quantity: str,
        *,
        start: datetime,
        end: datetime,
        where: Mapping[str, str] | None = None,
        interval_s: int | None = None,
        aggregate: Aggregate = "mean",
        group_by: Sequence[str] = ("device", "sensor"),
    ) -> list[Series]:
        if aggregate not in _AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}")
        cond = [f"time >= {to_ns(start)}", f"time < {to_ns(end)}"]
        for k, v in sorted((where or {}).items()):
            cond.append(f"{quote_ident(k)} = {quote_str(v)}")
        groups = [quote_ident(g) for g in group_by]
        if interval_s:
            select = f'{aggregate}("value") AS "value"'
            groups.insert(0, f"time({int(interval_s)}s)")
            tail = " fill(none)"
        else:
            select = '"value"'
            tail = ""
        q = (
            f"SELECT {select} FROM {quote_ident(quantity)} WHERE {' AND '.join(cond)}"
            + (f" GROUP BY {', '.join(groups)}" if groups else "")
            + tail
        )
        out: list[Series] = []
        for res in self.query_raw(q):
            for s in res.get("series", []):
                cols = s["columns"]
                ti, vi = cols.index("time"), cols.index("value")
                pts = [
                    SeriesPoint(
                        time=from_ns(int(row[ti])),
                        value=None if row[vi] is None else float(row[vi]),
                    )
                    for row in s.get("values", [])
                ]
                out.append(Series(quantity=quantity, tags=dict(s.get("tags") or {}), points=pts))
        return out

    def aggregate(
        self,
        quantity: str,
        *,
        start: datetime,
        end: datetime,
        aggregate: GroupAggregate,
        where: Mapping[str, str] | None = None,
        group_by: Sequence[str] = ("device", "sensor"),
    ) -> dict[tuple[str, ...], float]:
        if aggregate not in GROUP_AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r} (one of {GROUP_AGGREGATES})")
        cond = [f"time >= {to_ns(start)}", f"time < {to_ns(end)}"]
        for k, v in sorted((where or {}).items()):
            cond.append(f"{quote_ident(k)} = {quote_str(v)}")
        q = f'SELECT {aggregate}("value") AS "value" FROM {quote_ident(quantity)}'
        q += f" WHERE {' AND '.join(cond)}"
        if group_by:
            q += f" GROUP BY {', '.join(quote_ident(g) for g in group_by)}"
        out: dict[tuple[str, ...], float] = {}
        for res in self.query_raw(q):
            for s in res.get("series", []):
                tags = s.get("tags") or {}
                vi = s["columns"].index("value")
                for row in s.get("values", []):
                    if row[vi] is not None and (aggregate != "count" or row[vi]):
                        out[tuple(tags.get(g, "") for g in group_by)] = float(row[vi])
        return out

    def count(self, measurement: str, where: Mapping[str, str] | None = None) -> int:
        cond = " AND ".join(
            f"{quote_ident(k)} = {quote_str(v)}" for k, v in sorted((where or {}).items())
        )
        field_name = "rssi" if measurement == "lorawan_uplink" else "value"
        q = f"SELECT count({quote_ident(field_name)}) FROM {quote_ident(measurement)}"
        if cond:
            q += f" WHERE {cond}"
        total = 0
        for res in self.query_raw(q):
            for s in res.get("series", []):
                for row in s.get("values", []):
                    total += int(row[1] or 0)
        return total

    @staticmethod
    def _point_where(q: PointQuery) -> str:
        cond = [f"{quote_ident(k)} = {quote_str(v)}" for k, v in sorted(q.where.items())]
        if q.start is not None:
            cond.append(f"time >= {to_ns(q.start)}")
        if q.end is not None:
            cond.append(f"time < {to_ns(q.end)}")
        for op, value in q.values:
            cond.append(f'"value" {_INFLUXQL_CMP[op]} {float(value)!r}')
        return f" WHERE {' AND '.join(cond)}" if cond else ""

    def read_points(self, q: PointQuery, *, limit: int, offset: int = 0) -> list[SeriesPoint]:
        if limit <= 0:
            return []
        order = " ORDER BY time DESC" if q.descending else ""
        query = (
            f'SELECT "value" FROM {quote_ident(q.measurement)}{self._point_where(q)}'
            f"{order} LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        out: list[SeriesPoint] = []
        for res in self.query_raw(query):
            for s in res.get("series", []):
                cols = s["columns"]
                ti, vi = cols.index("time"), cols.index("value")
                out.extend(
                    SeriesPoint(time=from_ns(int(row[ti])), value=float(row[vi]))
                    for row in s.get("values", [])
                    if row[vi] is not None
                )
        return out

    def count_points(self, q: PointQuery) -> int:
        query = f'SELECT count("value") FROM {quote_ident(q.measurement)}{self._point_where(q)}'
        total = 0
        for res in self.query_raw(query):
            for s in res.get("series", []):
                for row in s.get("values", []):
                    total += int(row[1] or 0)
        return total

    def ping(self) -> bool:
        try:
            r = self._client.get("/ping")
            # 204 is InfluxDB's answer; a 200 counts only with InfluxDB's version header
            return r.status_code == 204 or (
                r.status_code == 200 and "X-Influxdb-Version" in r.headers
            )
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()


_INFLUXQL_CMP = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


class _TooLarge(Exception):
    pass


def _error_text(r: httpx.Response) -> str:
    try:
        data = r.json()
        if isinstance(data, dict):
            return str(data.get("error") or data.get("message") or data)
    except ValueError:
        pass
    return r.text.strip()[:500]


def _influx_json(r: httpx.Response) -> bool | None:
    """Whether the body is InfluxDB's JSON: True for a JSON object with ``results``,
    ``error`` or ``message`` (1.x/3.x ``{"error": ...}``, 2.x ``{"code", "message"}``),
    None for an empty body, False for anything else (HTML, plain text, other JSON)."""
    if not r.content.strip():
        return None
    if "json" not in r.headers.get("Content-Type", ""):
        return False
    try:
        data = r.json()
    except ValueError:
        return False
    return isinstance(data, dict) and any(k in data for k in ("results", "error", "message"))


def _describe(r: httpx.Response) -> str:
    """``404 text/html "<title>Not Found</title>..."``: enough to recognise the server."""
    ctype = r.headers.get("Content-Type", "").split(";")[0] or "no content type"
    text = " ".join(r.text.split())[:80]
    return f"{r.status_code} {ctype}" + (f' "{text}"' if text else "")


def _retry_after(r: httpx.Response) -> float | None:
    v = r.headers.get("Retry-After")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None
