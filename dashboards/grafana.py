"""Dashboard building blocks on ``grafana-foundation-sdk``, Grafana's typed builders.

The SDK's builders and models are generated from Grafana's own schemas (the pinned build
is the one for Grafana 11.3, the docker-compose image), so every option set here is one
Grafana's schema knows; ``tests/dashboards/test_sdk_roundtrip.py`` loads each generated
dashboard back through the SDK's types and requires the same JSON.

One gap: this SDK build has no InfluxDB query type (``grafana_foundation_sdk.models`` has
Prometheus, Loki, Elasticsearch ... but no ``influxdb``). :class:`InfluxQuery` fills it as
an SDK ``Dataquery`` variant registered through the SDK's public runtime hook, so the
SDK's own ``Dashboard.from_json`` reads our targets back as typed objects.

Panel ids come from a counter per dashboard (in the order panels are added) and the grid
positions from :class:`Board`, so regenerating gives the same ids and layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    geomap,
    histogram,
    piechart,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as gdb
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as gm

from dashboards.interval import Resolution
from decoders.quantities import CATALOGUE, Quantity

#: the datasource uid provisioned in provisioning/datasources/influxdb.yaml
DATASOURCE_UID = "lorawan-influxdb"
#: dashboards, their time axes and per-day buckets (InfluxQL ``tz()``) use local time
TIMEZONE = "Europe/Berlin"
#: every dashboard carries this tag; the dashboard links list the dashboards that have it
TAG = "lorawan"

Json = dict[str, Any]
Lang = Literal["de", "en"]


def datasource() -> gm.DataSourceRef:
    return gm.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)


# --- the InfluxDB query type the SDK lacks --------------------------------------------------


class InfluxQuery(cogvariants.Dataquery):
    """A raw InfluxQL target of Grafana's built-in InfluxDB datasource (InfluxQL mode).

    Fields as Grafana stores them for ``rawQuery`` targets (``query``, ``rawQuery``,
    ``resultFormat``, ``alias``, ``hide``, ``refId``, ``datasource``)."""

    def __init__(
        self,
        ref_id: str = "",
        query: str = "",
        result_format: str = "time_series",
        alias: str | None = None,
        hide: bool | None = None,
        raw_query: bool = True,
        datasource: gm.DataSourceRef | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide
        self.raw_query = raw_query
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": self.raw_query,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            out["alias"] = self.alias
        if self.hide is not None:
            out["hide"] = self.hide
        if self.datasource is not None:
            out["datasource"] = self.datasource
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        ds = data.get("datasource")
        return cls(
            ref_id=data.get("refId", ""),
            query=data.get("query", ""),
            result_format=data.get("resultFormat", "time_series"),
            alias=data.get("alias"),
            hide=data.get("hide"),
            raw_query=data.get("rawQuery", True),
            datasource=gm.DataSourceRef.from_json(ds) if isinstance(ds, dict) else None,
        )


class Target(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder for :class:`InfluxQuery`, usable wherever the SDK takes a query builder."""

    def __init__(self, query: InfluxQuery) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


def register() -> None:
    """Register the SDK's panel/query variants and ours (idempotent, before ``from_json``)."""
    register_default_plugins()
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier="influxdb", from_json_hook=InfluxQuery.from_json)
    )


register()


def target(
    ref_id: str, query: str, *, alias: str = "", fmt: str = "time_series", hide: bool = False
) -> Target:
    """One raw InfluxQL query against the provisioned datasource."""
    return Target(
        InfluxQuery(
            ref_id=ref_id,
            query=query,
            result_format=fmt,
            alias=alias or None,
            hide=True if hide else None,
            datasource=datasource(),
        )
    )


# --- language, options given at generation -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    """What ``dashboards generate`` is told: language, where the API is, site flood marks."""

    lang: Lang = "de"
    #: base URL of the REST API / installer page as a browser reaches it (no trailing /)
    api_url: str = "http://localhost:8080"
    #: site -> water-level marks in m (e.g. Meldestufen), drawn on the water-level panel
    flood_marks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def t(self, de: str, en: str) -> str:
        """The German or the English text."""
        return de if self.lang == "de" else en

    def label(self, q: Quantity) -> str:
        info = CATALOGUE[q]
        return info.label_de if self.lang == "de" else info.label_en

    def installer(self, dev_eui: str) -> str:
        return f"{self.api_url.rstrip('/')}/installer#{dev_eui}"

    def opendata(self) -> str:
        return f"{self.api_url.rstrip('/')}/api/v1/opendata/README.md"


def unit_of(quantity: Quantity) -> str:
    """The Grafana unit of a quantity, from the catalogue (never from the data)."""
    return CATALOGUE[quantity].grafana_unit


def describe(o: Options, quantity: Quantity, extra: str = "") -> str:
    """Panel description: the catalogue label and unit, the measurement, a sentence."""
    info = CATALOGUE[quantity]
    unit = f" [{info.unit}]" if info.unit else ""
    m = o.t("Messgröße", "Measurement")
    return f"{o.label(quantity)}{unit}. {m} `{quantity.value}`. {extra}".strip()


# --- field config pieces ---------------------------------------------------------------------


def thresholds(*steps: tuple[float | None, str]) -> gdb.ThresholdsConfig:
    return (
        gdb.ThresholdsConfig()
        .mode(gm.ThresholdsMode.ABSOLUTE)
        .steps([gm.Threshold(value=v, color=c) for v, c in steps])
    )


GREEN = ((None, "green"),)


def by_thresholds() -> gdb.FieldColor:
    return gdb.FieldColor().mode(gm.FieldColorModeId.THRESHOLDS)


def palette() -> gdb.FieldColor:
    return gdb.FieldColor().mode(gm.FieldColorModeId.PALETTE_CLASSIC)


def prop(name: str, value: Any) -> gm.DynamicConfigValue:
    return gm.DynamicConfigValue(id_val=name, value=value)


def link_value(title: str, url: str) -> list[Json]:
    """A field's data links as Grafana stores them (``links`` override property)."""
    return [{"title": title, "url": url, "targetBlank": True}]


def installer_link(o: Options, dev_eui: str) -> gdb.DashboardLink:
    """Data link to the installer page of the device behind a series or table row."""
    return (
        gdb.DashboardLink(o.t("Installationsseite des Geräts", "Installer page of the device"))
        .url(o.installer(dev_eui))
        .target_blank(True)
    )


#: the installer link of a time series (grouped by ``dev_eui``) and of a table row
SERIES_EUI = "${__field.labels.dev_eui}"
ROW_EUI = "${__data.fields.dev_eui}"


def legend(*calcs: str, right: bool = True) -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.RIGHT if right else common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(list(calcs))
    )


def tooltip_multi() -> cb.VizTooltipOptions:
    return (
        cb.VizTooltipOptions()
        .mode(common.TooltipDisplayMode.MULTI)
        .sort(common.SortOrder.DESCENDING)
    )


def reduce(calc: str = "lastNotNull") -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs([calc]).values(False).fields("")


def stacking(on: bool) -> cb.StackingConfig:
    return (
        cb.StackingConfig()
        .mode(common.StackingMode.NORMAL if on else common.StackingMode.NONE)
        .group("A")
    )


def transform(kind: str, options: Json) -> gm.DataTransformerConfig:
    return gm.DataTransformerConfig(id_val=kind, options=options)


# --- typed panels with the settings every panel shares --------------------------------------

AnyPanel = TypeVar(
    "AnyPanel",
    timeseries.Panel,
    stat.Panel,
    table.Panel,
    bargauge.Panel,
    statetimeline.Panel,
    piechart.Panel,
    histogram.Panel,
    geomap.Panel,
)


def common_panel(
    p: AnyPanel,
    title: str,
    desc: str,
    targets: Sequence[Target],
    *,
    unit: str = "none",
    th: Sequence[tuple[float | None, str]] | None = None,
    color_by_thresholds: bool = True,
    interval: str | None = None,
    resolution: Resolution | None = None,
    decimals: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> AnyPanel:
    """Title, description, datasource, queries, unit, thresholds and limits of any panel.

    ``interval`` is a fixed min interval (for queries with a fixed ``time(1h)``);
    ``resolution`` sets Max data points and Min interval for queries grouped by
    ``$__interval`` (``dashboards/interval.py``)."""
    p = p.title(title).description(desc).datasource(datasource()).unit(unit)
    for t in targets:
        p = p.with_target(t)
    if th is not None:
        p = p.thresholds(thresholds(*th))
        p = p.color_scheme(by_thresholds() if color_by_thresholds else palette())
    else:
        p = p.color_scheme(palette())
    if interval:
        p = p.interval(interval)
    if resolution is not None:
        p = p.max_data_points(resolution.max_data_points)
        if resolution.min_interval:
            p = p.interval(resolution.min_interval)
    if decimals is not None:
        p = p.decimals(decimals)
    if minimum is not None:
        p = p.min(minimum)
    if maximum is not None:
        p = p.max(maximum)
    return p


def lines(
    p: timeseries.Panel,
    *,
    bars: bool = False,
    stack: bool = False,
    points: bool = False,
    calcs: Sequence[str] = ("mean", "max", "lastNotNull"),
    marks: common.GraphThresholdsStyleMode | None = None,
) -> timeseries.Panel:
    """Time series look: lines or (stacked) bars, a table legend on the right."""
    draw = (
        common.GraphDrawStyle.BARS
        if bars
        else (common.GraphDrawStyle.POINTS if points else common.GraphDrawStyle.LINE)
    )
    p = (
        p.draw_style(draw)
        .fill_opacity(80 if bars else 10)
        .line_width(1)
        .show_points(common.VisibilityMode.ALWAYS if points else common.VisibilityMode.AUTO)
        .span_nulls(False)
        .stacking(stacking(stack))
        .legend(legend(*calcs))
        .tooltip(tooltip_multi())
    )
    if marks is not None:
        p = p.thresholds_style(cb.GraphThresholdsStyleConfig().mode(marks))
    return p


# --- the dashboard and its layout ------------------------------------------------------------


@dataclass
class Board:
    """A dashboard being built: panels are laid out left to right, 24 columns wide."""

    o: Options
    uid: str
    title: str
    description: str
    tags: list[str]
    variables: list[gdb.QueryVariable]
    _dash: gdb.Dashboard = field(init=False)
    _id: int = 0
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def __post_init__(self) -> None:
        o = self.o
        self._dash = (
            gdb.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags([TAG, *self.tags])
            .timezone(TIMEZONE)
            .week_start("monday")
            .editable()
            .tooltip(gm.DashboardCursorSync.CROSSHAIR)
            .time("now-7d", "now")
            .refresh("5m")
            .fiscal_year_start_month(0)
            .version(1)
            .variables(list(self.variables))
            .links(
                [
                    gdb.DashboardLink(o.t("LoRaWAN-Dashboards", "LoRaWAN dashboards"))
                    .type(gm.DashboardLinkType.DASHBOARDS)
                    .tags([TAG])
                    .as_dropdown(False)
                    .include_vars(True)
                    .keep_time(True),
                    gdb.DashboardLink(o.t("OpenData-Export", "OpenData export"))
                    .type(gm.DashboardLinkType.LINK)
                    .url(o.opendata())
                    .icon("external link")
                    .tooltip(
                        o.t(
                            "Offene Daten dieser Messnetze (Beschreibung und Download)",
                            "Open data of these networks (description and download)",
                        )
                    )
                    .target_blank(True),
                    gdb.DashboardLink(o.t("Installationsseite", "Installer page"))
                    .type(gm.DashboardLinkType.LINK)
                    .url(f"{o.api_url.rstrip('/')}/installer")
                    .icon("external link")
                    .target_blank(True),
                ]
            )
        )

    def row(self, title: str) -> None:
        self._newline()
        self._id += 1
        self._dash = self._dash.with_row(
            gdb.Row(title)
            .id(self._id)
            .collapsed(False)
            .grid_pos(gm.GridPos(h=1, w=24, x=0, y=self._y))
        )
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
            self._x, self._row_h = 0, 0

    def add(self, panel: AnyPanel, *, w: int = 12, h: int = 8) -> None:
        if self._x + w > 24:
            self._newline()
        self._id += 1
        panel = panel.id(self._id).grid_pos(gm.GridPos(h=h, w=w, x=self._x, y=self._y))
        self._dash = self._dash.with_panel(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def json(self) -> Json:
        """The finished dashboard, checked against (and normalised by) the SDK's types."""
        return through_schema(to_json(self._dash.build()))


def to_json(model: Any) -> Json:
    """Plain JSON of an SDK model (the SDK's own encoder)."""
    out: Json = json.loads(json.dumps(model, cls=JSONEncoder))
    return out


def from_json(board: Json) -> gm.Dashboard:
    """Read a dashboard through the SDK's types (unknown keys of typed parts are dropped)."""
    return gm.Dashboard.from_json(board)


def tag_variable(name: str, label: str, where: str = "", *, desc: str = "") -> gdb.QueryVariable:
    """A multi-value template variable from ``SHOW TAG VALUES`` on ``lorawan_uplink``.

    "All" is ``.*`` so that series whose tag is empty or absent still match.
    """
    query = f'SHOW TAG VALUES FROM "lorawan_uplink" WITH KEY = "{name}"'
    if where:
        query += f" WHERE {where}"
    return (
        gdb.QueryVariable(name)
        .label(label)
        .description(desc)
        .datasource(datasource())
        .query(query)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(gm.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(gm.VariableSort.ALPHABETICAL_ASC)
    )


def unit_override(p: AnyPanel, field_name: str, unit: str) -> AnyPanel:
    return p.override_by_name(field_name, [prop("unit", unit)])


def rename(p: AnyPanel, field_name: str, title: str) -> AnyPanel:
    return p.override_by_name(field_name, [prop("displayName", title)])


class SchemaError(ValueError):
    """A generated dashboard holds something Grafana's schema types do not know."""


def lost_in_roundtrip(built: Any, typed: Any, path: str = "") -> list[str]:
    """Paths whose value the SDK's types drop or change (defaults they add are fine)."""
    if isinstance(built, dict) and isinstance(typed, dict):
        out = []
        for k, v in built.items():
            if k not in typed:
                out.append(f"{path}/{k} dropped")
            else:
                out += lost_in_roundtrip(v, typed[k], f"{path}/{k}")
        return out
    if isinstance(built, list) and isinstance(typed, list):
        if len(built) != len(typed):
            return [f"{path} length {len(built)} -> {len(typed)}"]
        return [
            x
            for i, (a, b) in enumerate(zip(built, typed, strict=True))
            for x in lost_in_roundtrip(a, b, f"{path}[{i}]")
        ]
    return [] if built == typed else [f"{path} {built!r} -> {typed!r}"]


def through_schema(board: Json) -> Json:
    """The dashboard as Grafana's schema types read it back (with their defaults filled in).

    Raises :class:`SchemaError` if reading it through the types loses anything we set,
    which is how an option the schema does not know would show."""
    typed = to_json(from_json(board))
    lost = lost_in_roundtrip(board, typed)
    if lost:
        raise SchemaError(f"dashboard {board.get('uid')}: " + "; ".join(lost[:10]))
    return typed
