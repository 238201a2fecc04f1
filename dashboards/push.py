"""Upsert the dashboards into an existing Grafana through its HTTP API (grafana-client).

Idempotent: a dashboard whose stored JSON (ignoring ``id`` and ``version``) and folder
already match is not written again, so its Grafana version stays the same and no
empty versions pile up in its history. Endpoints used (Grafana HTTP API docs):
``GET /api/frontend/settings`` (health), ``GET /api/folders``, ``POST /api/folders``,
``GET /api/dashboards/uid/:uid``, ``POST /api/dashboards/db`` with ``overwrite``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.grafana import Json
from lorawan_monitor.errors import LoraMonitorError

log = logging.getLogger(__name__)

Action = Literal["created", "updated", "unchanged"]
_VOLATILE = ("id", "version")


class GrafanaPushError(LoraMonitorError):
    """Grafana could not be reached, refused the token, or rejected a dashboard."""

    reason = "grafana"


@dataclass(frozen=True, kw_only=True)
class PushResult:
    uid: str
    title: str
    action: Action
    version: int | None


def connect(url: str, token: str, timeout: float = 10.0) -> GrafanaApi:
    """A client for ``url`` (e.g. ``https://grafana.example.org``) with a service-account token."""
    api: GrafanaApi = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    return api


def folder_uid_for(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:40] or "lorawan"


def _comparable(board: Json) -> Json:
    return {k: v for k, v in board.items() if k not in _VOLATILE}


def ensure_folder(api: Any, title: str) -> str:
    """The uid of the folder called ``title``; create it if there is none."""
    for folder in api.folder.get_all_folders():
        if folder.get("title") == title:
            return str(folder["uid"])
    created = api.folder.create_folder(title, uid=folder_uid_for(title))
    log.info("created Grafana folder %r (uid %s)", title, created["uid"])
    return str(created["uid"])


def _existing(api: Any, uid: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = api.dashboard.get_dashboard(uid)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise
    return found


def push(api: GrafanaApi, boards: dict[str, Json], folder: str = "LoRaWAN") -> list[PushResult]:
    """Create or update every board in ``folder``; skip those already identical."""
    client: Any = api  # grafana-client's methods are not annotated
    try:
        client.health.check()
        folder_uid = ensure_folder(client, folder)
        results = []
        for board in boards.values():
            results.append(_push_one(client, board, folder_uid))
        return results
    except niquests.exceptions.RequestException as exc:
        raise GrafanaPushError(f"cannot reach Grafana: {exc}") from exc
    except GrafanaException as exc:
        hint = (
            " (check the service-account token and its role)"
            if exc.status_code
            in (
                401,
                403,
            )
            else ""
        )
        raise GrafanaPushError(f"Grafana refused: {exc}{hint}") from exc


def _push_one(api: Any, board: Json, folder_uid: str) -> PushResult:
    uid = str(board["uid"])
    current = _existing(api, uid)
    if current is not None:
        stored = current.get("dashboard", {})
        same_folder = current.get("meta", {}).get("folderUid") == folder_uid
        if same_folder and _comparable(stored) == _comparable(board):
            return PushResult(
                uid=uid, title=board["title"], action="unchanged", version=stored.get("version")
            )
    body = {
        "dashboard": {**board, "id": None},
        "folderUid": folder_uid,
        "overwrite": True,
        "message": "lorawan-monitor dashboards push",
    }
    answer = api.dashboard.update_dashboard(body)
    action: Action = "created" if current is None else "updated"
    log.info("%s dashboard %s (version %s)", action, uid, answer.get("version"))
    return PushResult(uid=uid, title=board["title"], action=action, version=answer.get("version"))
