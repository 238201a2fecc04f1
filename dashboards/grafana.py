"""Small builders for Grafana dashboard JSON (schemaVersion 39, Grafana 10.4 / 11).

Plain dicts, no SDK: the output is exactly what Grafana stores, diffs cleanly in review,
and a test can read every query back out of it. Panel ids come from a counter per
dashboard (in the order panels are added), so regenerating gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decoders.quantities import CATALOGUE, Quantity

#: the datasource uid provisioned in provisioning/datasources/influxdb.yaml
DATASOURCE_UID = "lorawan-influxdb"
DATASOURCE: dict[str, str] = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
#: calendar days (per-day bars) are cut in this time zone (InfluxQL ``tz()``)
TIMEZONE = "Europe/Berlin"

Json = dict[str, Any]


def unit_of(quantity: Quantity) -> str:
    """The Grafana unit of a quantity, from the catalogue (never from the data)."""
    return CATALOGUE[quantity].grafana_unit


def description(quantity: Quantity, extra: str = "") -> str:
    """English label, German label in the description (the titles stay English)."""
    q = CATALOGUE[quantity]
    unit = f" [{q.unit}]" if q.unit else ""
    text = f"{q.label_en}{unit} — DE: {q.label_de}{unit}. Measurement `{quantity.value}`."
    return f"{text} {extra}".strip()


def target(
    ref_id: str, query: str, *, alias: str = "", fmt: str = "time_series", hide: bool = False
) -> Json:
    """One raw InfluxQL query against the provisioned datasource."""
    t: Json = {
        "datasource": dict(DATASOURCE),
        "query": query,
        "rawQuery": True,
        "refId": ref_id,
        "resultFormat": fmt,
    }
    if alias:
        t["alias"] = alias
    if hide:
        t["hide"] = True
    return t


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


GREEN: Json = thresholds((None, "green"))
#: low is bad (battery, occupancy free)
LOW_BAD: Json = thresholds((None, "red"), (20, "orange"), (40, "green"))


@dataclass
class Board:
    """A dashboard being built: panels are laid out left to right, 24 columns wide."""

    uid: str
    title: str
    description: str
    tags: list[str]
    variables: list[Json]
    panels: list[Json] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "id": len(self.panels) + 1,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
            self._x, self._row_h = 0, 0

    def add(
        self,
        kind: str,
        title: str,
        targets: list[Json],
        *,
        desc: str,
        unit: str = "none",
        w: int = 12,
        h: int = 8,
        options: Json | None = None,
        custom: Json | None = None,
        overrides: list[Json] | None = None,
        transformations: list[Json] | None = None,
        th: Json | None = None,
        interval: str | None = None,
        decimals: int | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> Json:
        if self._x + w > 24:
            self._newline()
        defaults: Json = {"color": {"mode": "palette-classic"}, "unit": unit}
        if th is not None:
            defaults["thresholds"] = th
            defaults["color"] = {"mode": "thresholds"}
        if custom:
            defaults["custom"] = custom
        if decimals is not None:
            defaults["decimals"] = decimals
        if minimum is not None:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        panel: Json = {
            "datasource": dict(DATASOURCE),
            "description": desc,
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "gridPos": {"h": h, "w": w, "x": self._x, "y": self._y},
            "id": len(self.panels) + 1,
            "options": options or {},
            "targets": targets,
            "title": title,
            "type": kind,
        }
        if transformations:
            panel["transformations"] = transformations
        if interval:
            panel["interval"] = interval
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)
        return panel

    def json(self) -> Json:
        return {
            "annotations": {"list": []},
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": None,
            "links": [],
            "panels": self.panels,
            "refresh": "5m",
            "schemaVersion": SCHEMA_VERSION,
            "tags": self.tags,
            "templating": {"list": self.variables},
            "time": {"from": "now-7d", "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "monday",
        }


def tag_variable(name: str, label: str, where: str = "", *, desc: str = "") -> Json:
    """A multi-value template variable from ``SHOW TAG VALUES`` on ``lorawan_uplink``.

    "All" is ``.*`` so that series whose tag is empty or absent still match.
    """
    query = f'SHOW TAG VALUES FROM "lorawan_uplink" WITH KEY = "{name}"'
    if where:
        query += f" WHERE {where}"
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": dict(DATASOURCE),
        "definition": query,
        "description": desc,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "query": query,
        "refresh": 2,
        "sort": 1,
        "type": "query",
    }


def timeseries(
    *, bars: bool = False, stack: bool = False, fill: int = 10, points: bool = False
) -> Json:
    return {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 80 if bars else fill,
        "lineWidth": 1,
        "showPoints": "always" if points else "auto",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
    }


LEGEND: Json = {
    "legend": {
        "calcs": ["mean", "max", "lastNotNull"],
        "displayMode": "table",
        "placement": "right",
    },
    "tooltip": {"mode": "multi", "sort": "desc"},
}
LEGEND_SUM: Json = {
    "legend": {"calcs": ["sum", "max"], "displayMode": "table", "placement": "right"},
    "tooltip": {"mode": "multi", "sort": "desc"},
}
STAT: Json = {
    "colorMode": "value",
    "graphMode": "area",
    "justifyMode": "auto",
    "orientation": "auto",
    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    "textMode": "value_and_name",
}
STAT_SUM: Json = {**STAT, "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False}}
BARGAUGE: Json = {
    "displayMode": "lcd",
    "orientation": "horizontal",
    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    "showUnfilled": True,
}
TABLE: Json = {"cellHeight": "sm", "showHeader": True}


def unit_override(field_name: str, unit: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": field_name},
        "properties": [{"id": "unit", "value": unit}],
    }
