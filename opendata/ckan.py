"""Publish an export to a CKAN portal through the CKAN Action API (``/api/3/action/...``).

The plan is computed first (``plan``), then executed (``execute``); ``--dry-run`` prints
the plan. Idempotent: the dataset is compared with ``package_show`` and only changed
fields are sent; a file is uploaded only when its SHA-256 (kept in the resource's
``hash`` field) differs, or, with stable URLs, when the URL differs. A second run with the
same data plans nothing.

Responses follow CKAN's documented envelope: ``{"success": true, "result": ...}`` or
``{"success": false, "error": {"__type": ..., "message": ...}}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lorawan_monitor.errors import LoraMonitorError
from opendata.config import OpenDataSettings
from opendata.dcat import FORMATS, LICENCES, resource_url
from opendata.files import FILES, Export

NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")
PUBLISHED = ("data.csv", "data.json", "stations.geojson", "README.md")


class CkanError(LoraMonitorError):
    reason = "ckan"

    def __init__(self, message: str, *, error_type: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Action:
    action: str
    data: Mapping[str, Any]
    upload: Path | None = None

    def describe(self) -> str:
        body = json.dumps(self.data, ensure_ascii=False, sort_keys=True)
        extra = ""
        if self.upload is not None:
            extra = f" + upload {self.upload.name} ({self.upload.stat().st_size} bytes)"
        return f"POST /api/3/action/{self.action} {body}{extra}"


class CkanClient:
    def __init__(
        self, portal: str, api_key: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        headers = {"User-Agent": "lorawan-monitor"}
        if api_key:
            headers["Authorization"] = api_key
        self._client = httpx.Client(
            base_url=portal.rstrip("/") + "/api/3/action/",
            headers=headers,
            timeout=60,
            transport=transport,
        )

    def call(self, action: str, data: Mapping[str, Any], upload: Path | None = None) -> Any:
        try:
            if upload is not None:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
                media = FILES.get(upload.name, "application/octet-stream")
                with upload.open("rb") as fh:
                    r = self._client.post(
                        action, data=form, files={"upload": (upload.name, fh, media)}
                    )
            elif action.endswith("_show"):
                r = self._client.get(action, params=dict(data))
            else:
                r = self._client.post(action, json=dict(data))
        except httpx.HTTPError as exc:
            raise CkanError(f"CKAN portal unreachable: {exc}") from exc
        try:
            body = r.json()
        except ValueError as exc:
            raise CkanError(f"CKAN {action}: not a CKAN API answer ({r.status_code})") from exc
        if not isinstance(body, dict) or not body.get("success"):
            err = body.get("error", {}) if isinstance(body, dict) else {}
            raise CkanError(
                f"CKAN {action} failed ({r.status_code}): {json.dumps(err, ensure_ascii=False)}",
                error_type=str(err.get("__type", "")),
                status=r.status_code,
            )
        return body["result"]

    def close(self) -> None:
        self._client.close()


def package_fields(
    name: str, export: Export, cfg: OpenDataSettings, owner_org: str | None
) -> dict[str, Any]:
    """The dataset's CKAN fields (SH: title, notes, license_id, extras issued /
    temporal_start / temporal_end / spatial_uri / licenseAttributionByText)."""
    if not NAME_RE.match(name):
        raise CkanError(f"dataset name {name!r}: 2-100 lowercase letters, digits, - or _")
    extras = {
        "temporal_start": export.first.isoformat(),
        "temporal_end": export.end.isoformat(),
        "issued": export.generated_at.date().isoformat(),
    }
    if cfg.political_geocoding_uri:
        extras["spatial_uri"] = cfg.political_geocoding_uri
    if LICENCES.get(cfg.license, True):
        extras["licenseAttributionByText"] = cfg.attribution_text()
    pkg: dict[str, Any] = {
        "name": name,
        "title": cfg.title,
        "notes": cfg.description,
        "license_id": cfg.license,
        "tags": [{"name": k} for k in cfg.keywords],
        "extras": [{"key": k, "value": v} for k, v in sorted(extras.items())],
    }
    if owner_org:
        pkg["owner_org"] = owner_org
    return pkg


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(kw_only=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _extras(pkg: Mapping[str, Any]) -> dict[str, str]:
    return {e["key"]: e["value"] for e in pkg.get("extras", [])}


def _differs(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    out = []
    for k, v in want.items():
        if k == "extras":
            mine, theirs = _extras(want), _extras(have)
            mine.pop("issued", None)  # first publication date: keep the portal's
            if any(theirs.get(ek) != ev for ek, ev in mine.items()):
                out.append(k)
        elif k == "tags":
            if sorted(t["name"] for t in v) != sorted(t["name"] for t in have.get("tags", [])):
                out.append(k)
        elif have.get(k) != v:
            out.append(k)
    return out


def plan(
    client: CkanClient | None,
    name: str,
    export: Export,
    cfg: OpenDataSettings,
    files: Mapping[str, Path],
    *,
    owner_org: str | None = None,
    use_urls: bool = False,
) -> Plan:
    """What ``publish`` would send. ``client=None`` plans as if the dataset did not exist."""
    want = package_fields(name, export, cfg, owner_org)
    have: dict[str, Any] | None = None
    if client is not None:
        try:
            have = client.call("package_show", {"id": name})
        except CkanError as exc:
            if exc.error_type != "Not Found Error" and exc.status != 404:
                raise
    p = Plan()
    if have is None:
        p.actions.append(Action(action="package_create", data=want))
        resources: list[Mapping[str, Any]] = []
    else:
        changed = _differs(want, have)
        if changed:
            merged = dict(have)
            merged.update(want)
            extras = _extras(have) | {
                k: v for k, v in _extras(want).items() if k != "issued" or k not in _extras(have)
            }
            merged["extras"] = [{"key": k, "value": v} for k, v in sorted(extras.items())]
            p.actions.append(Action(action="package_update", data=merged))
        else:
            p.unchanged.append("dataset")
        resources = have.get("resources", [])
    by_name = {r.get("name"): r for r in resources}
    for fname in PUBLISHED:
        path = files[fname]
        fmt = FORMATS.get(fname, ("MARKDOWN" if fname.endswith(".md") else "TXT", ""))[0]
        res: dict[str, Any] = {"package_id": name, "name": fname, "format": fmt,
                               "mimetype": FILES[fname]}  # fmt: skip
        url = resource_url(cfg, fname, export) if use_urls and fname != "README.md" else None
        if url:
            res["url"] = url
        else:
            res["hash"] = sha256(path)
        old = by_name.get(fname)
        upload = None if url else path
        if old is None:
            p.actions.append(Action(action="resource_create", data=res, upload=upload))
        elif (url and old.get("url") != url) or (not url and old.get("hash") != res["hash"]):
            res = {**res, "id": old["id"]}
            res.pop("package_id")
            p.actions.append(Action(action="resource_update", data=res, upload=upload))
        else:
            p.unchanged.append(fname)
    return p


def execute(client: CkanClient, p: Plan) -> list[Any]:
    return [client.call(a.action, a.data, a.upload) for a in p.actions]
