"""The staff dashboard for the environment, and the template variables all dashboards share."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import geomap, table, timeseries
from grafana_foundation_sdk.builders.dashboard import QueryVariable
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import geomap as geomodel

from dashboards import marks
from dashboards.grafana import (
    ROW_EUI,
    SERIES_EUI,
    AnyPanel,
    Board,
    Json,
    Options,
    Target,
    common_panel,
    describe,
    installer_link,
    lines,
    link_value,
    prop,
    rename,
    tag_variable,
    target,
    transform,
    unit_of,
    unit_override,
)
from dashboards.influxql import LOCATION, select, where
from dashboards.interval import CITY_CURVE
from decoders.quantities import Quantity as Q

#: per-device series: the registry name and site for the legend, the DevEUI for the link
BY = ("site", "name", "device", "dev_eui", "sensor")
ALIAS = "$tag_site / $tag_name $tag_sensor"


def variables(o: Options, category: str | None) -> list[QueryVariable]:
    cat = f"\"category\" = '{category}'" if category else ""
    app = '"application" =~ /^$application$/'
    site = '"site" =~ /^$site$/'
    join = " AND ".join
    return [
        tag_variable(
            "application",
            o.t("Anwendung", "Application"),
            cat,
            desc=o.t("Anwendung im Netzserver", "Application in the network server"),
        ),
        tag_variable(
            "site",
            o.t("Standort", "Site"),
            join(p for p in (cat, app) if p),
            desc=o.t("Standort aus dem Geräteregister", "Site from the device registry"),
        ),
        tag_variable(
            "name",
            o.t("Gerät", "Device"),
            join(p for p in (cat, app, site) if p),
            desc=o.t("Gerätename aus dem Geräteregister", "Device name from the registry"),
        ),
    ]


def mean_panel(
    o: Options,
    q: Q,
    title: str,
    category: str,
    *,
    steps: marks.Steps | None = None,
    dashed: bool = False,
) -> timeseries.Panel:
    """Mean per interval and device; ``steps`` drawn as marks (the series keep colours)."""
    p = common_panel(
        timeseries.Panel(),
        title,
        describe(
            o,
            q,
            o.t(
                "Mittelwert je Intervall, je Standort, Gerät und Sensor.",
                "Mean per interval, per site, device and sensor.",
            ),
        ),
        [target("A", select('mean("value")', q, category, *BY), alias=ALIAS)],
        unit=unit_of(q),
        th=steps,
        color_by_thresholds=False,
        resolution=CITY_CURVE,
    )
    mode = None
    if steps is not None:
        mode = (
            common.GraphThresholdsStyleMode.DASHED
            if dashed
            else common.GraphThresholdsStyleMode.LINE_AND_AREA
        )
    return lines(p, marks=mode).data_links([installer_link(o, SERIES_EUI)])


def _water_level(o: Options) -> timeseries.Panel:
    """Water level with each site's flood marks (``--flood-mark SITE=M[,M...]``)."""
    desc = o.t(
        "Wasserstand je Standort; Hochwassermarken je Standort (bei der Erzeugung "
        "angegeben, `--flood-mark`) als Linien.",
        "Water level per site; each site's flood marks (given at generation, "
        "`--flood-mark`) as lines.",
    )
    p = mean_panel(o, Q.WATER_LEVEL, o.label(Q.WATER_LEVEL), "environment")
    p = p.description(describe(o, Q.WATER_LEVEL, desc))
    for site, values in sorted(o.flood_marks.items()):
        steps = marks.flood_steps(values)
        p = p.override_by_regexp(
            f"^{_regex_escape(site)} / .*",
            [
                prop(
                    "thresholds",
                    {
                        "mode": "absolute",
                        "steps": [{"color": c, "value": v} for v, c in steps],
                    },
                ),
                prop("custom.thresholdsStyle", {"mode": "dashed"}),
            ],
        )
    return p


def _regex_escape(text: str) -> str:
    out = []
    for ch in text:
        out.append("\\" + ch if ch in r"\^$.|?*+()[]{}/" else ch)
    return "".join(out)


LATEST = (Q.TEMPERATURE, Q.RELATIVE_HUMIDITY, Q.CO2, Q.WATER_LEVEL)


def _latest_targets() -> list[Target]:
    loc = target(
        "A",
        f'SELECT last("latitude") AS "latitude", last("longitude") AS "longitude" FROM "{LOCATION}"'
        f' WHERE {where("environment", time="time > 0")} GROUP BY "device", "name", "site", "dev_eui"',
        fmt="table",
    )
    last = [
        target(
            chr(ord("B") + i),
            select(f'last("value") AS "{q.value}"', q, "environment", "device", every=None),
            fmt="table",
        )
        for i, q in enumerate(LATEST)
    ]
    return [loc, *last]


JOIN: list[tuple[str, Json]] = [
    ("joinByField", {"byField": "device", "mode": "outer"}),
    ("organize", {"excludeByName": {"Time": True, "device": True}}),
]


def _latest(o: Options, b: Board) -> None:
    m = (
        geomap.Panel()
        .view(geomap.MapViewConfig().id("fit").lat(0).lon(0).zoom(12))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(False))
        .basemap(cb.MapLayerOptions().type("default").name(o.t("Grundkarte", "Basemap")))
        .layers(
            [
                cb.MapLayerOptions()
                .type("markers")
                .name(o.t("Geräte", "Devices"))
                .location(
                    cb.FrameGeometrySource()
                    .mode(common.FrameGeometrySourceMode.COORDS)
                    .latitude("latitude")
                    .longitude("longitude")
                )
                .config(
                    {
                        "showLegend": False,
                        "style": {
                            "size": {"fixed": 8},
                            "color": {"fixed": "dark-green"},
                            "text": {"mode": "field", "field": "name"},
                        },
                    }
                )
                .tooltip(True)
            ]
        )
        .tooltip(geomap.TooltipOptions().mode(geomodel.TooltipMode.DETAILS))
    )
    t = table.Panel().cell_height(common.TableCellHeight.SM).show_header(True)
    desc_map = o.t(
        "Letzter Wert je Gerät an seiner Position aus dem Geräteregister (Messgröße "
        "device_location).",
        "Last value per device at its registry position (measurement device_location).",
    )
    desc_table = o.t(
        "Letzter Wert im Zeitraum je Gerät; der Name führt zur Installationsseite.",
        "Last value in the time range per device; the name links to the installer page.",
    )
    b.add(
        _latest_fields(
            o,
            common_panel(
                m,
                o.t("Aktuelle Werte auf der Karte", "Latest values on the map"),
                desc_map,
                _latest_targets(),
            ),
        ),
        w=12,
        h=12,
    )
    b.add(
        _latest_fields(
            o,
            common_panel(
                t,
                o.t("Aktuelle Werte je Gerät", "Latest values per device"),
                desc_table,
                _latest_targets(),
            ),
        ),
        w=12,
        h=12,
    )


def _latest_fields(o: Options, p: AnyPanel) -> AnyPanel:
    """Units, German names and the CO₂ colours of the joined latest-value columns."""
    co2 = marks.CO2_UBA
    for q in LATEST:
        p = unit_override(p, q.value, unit_of(q))
        p = rename(p, q.value, o.label(q))
    p = p.override_by_name(
        "co2",
        [
            prop(
                "thresholds",
                {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in co2]},
            ),
            prop("color", {"mode": "thresholds"}),
            prop("custom.cellOptions", {"type": "color-text"}),
        ],
    )
    p = p.override_by_name(
        "name",
        [
            prop("displayName", o.t("Gerät", "Device")),
            prop("links", link_value(o.t("Installationsseite", "Installer page"), _inst(o))),
        ],
    )
    p = rename(p, "site", o.t("Standort", "Site"))
    for kind, opts in JOIN:
        p = p.with_transformation(transform(kind, opts))
    return p


def _inst(o: Options) -> str:
    return o.installer(ROW_EUI)


def environment(o: Options) -> Json:
    b = Board(
        o=o,
        uid="lorawan-environment",
        title=o.t("LoRaWAN – Umwelt", "LoRaWAN – Environment"),
        description=o.t(
            "Temperatur, Luftfeuchte, CO₂, Wasserstand und Wetter",
            "Temperature, humidity, CO₂, water and weather",
        ),
        tags=["environment"],
        variables=variables(o, "environment"),
    )
    env = "environment"
    b.row(o.t("Aktuelle Werte", "Latest values"))
    _latest(o, b)
    b.row(o.t("Klima", "Climate"))
    temp = mean_panel(o, Q.TEMPERATURE, o.label(Q.TEMPERATURE), env, steps=marks.FROST, dashed=True)
    b.add(
        temp.description(
            describe(
                o,
                Q.TEMPERATURE,
                o.t("Gestrichelte Linie: Frost (0 °C).", "Dashed line: frost (0 °C)."),
            )
        ),
        w=24,
    )
    b.add(mean_panel(o, Q.RELATIVE_HUMIDITY, o.label(Q.RELATIVE_HUMIDITY), env))
    co2 = mean_panel(o, Q.CO2, o.label(Q.CO2), env, steps=marks.CO2_UBA)
    b.add(
        co2.description(
            describe(
                o,
                Q.CO2,
                o.t(
                    "Lüftungsampel nach Umweltbundesamt: unter 1000 ppm unbedenklich (grün), "
                    "1000–2000 ppm auffällig (orange), über 2000 ppm inakzeptabel (rot).",
                    "Ventilation levels of the German Umweltbundesamt: below 1000 ppm harmless "
                    "(green), 1000–2000 ppm elevated (orange), above 2000 ppm unacceptable (red).",
                ),
            )
        )
    )
    b.row(o.t("Wasser", "Water"))
    b.add(_water_level(o))
    b.add(mean_panel(o, Q.DISTANCE, o.t("Abstand zur Oberfläche", "Distance to surface"), env))
    b.row(o.t("Wetter", "Weather"))
    wind = common_panel(
        timeseries.Panel(),
        o.t("Wind und Böen", "Wind speed and gusts"),
        describe(
            o, Q.WIND_SPEED, o.t("Böen: Maximum je Intervall.", "Gusts: maximum per interval.")
        ),
        [
            target(
                "A",
                select('mean("value")', Q.WIND_SPEED, env, *BY),
                alias=o.t("Wind", "wind") + " " + ALIAS,
            ),
            target(
                "B",
                select('max("value")', Q.WIND_GUST, env, *BY),
                alias=o.t("Böen", "gust") + " " + ALIAS,
            ),
        ],
        unit=unit_of(Q.WIND_SPEED),
        resolution=CITY_CURVE,
    )
    b.add(lines(wind).data_links([installer_link(o, SERIES_EUI)]))
    direction = common_panel(
        timeseries.Panel(),
        o.label(Q.WIND_DIRECTION),
        describe(
            o, Q.WIND_DIRECTION, o.t("Letzter Wert je Intervall.", "Last value per interval.")
        ),
        [target("A", select('last("value")', Q.WIND_DIRECTION, env, *BY), alias=ALIAS)],
        unit=unit_of(Q.WIND_DIRECTION),
        minimum=0,
        maximum=360,
        resolution=CITY_CURVE,
    )
    b.add(lines(direction, points=True).data_links([installer_link(o, SERIES_EUI)]))
    for every, title in (
        ("1h", o.t("Niederschlag je Stunde", "Precipitation per hour")),
        ("1d", o.t("Niederschlag je Tag", "Precipitation per day")),
    ):
        rain = common_panel(
            timeseries.Panel(),
            title,
            describe(
                o,
                Q.PRECIPITATION,
                o.t(f"Summe je {every} (Tage nach Ortszeit).", f"Sum per {every} (local days)."),
            ),
            [
                target(
                    "A",
                    select(
                        'sum("value")', Q.PRECIPITATION, env, *BY, every=every, tz=every == "1d"
                    ),
                    alias=ALIAS,
                )
            ],
            unit=unit_of(Q.PRECIPITATION),
            interval=every,
        )
        rain = lines(rain, bars=True, calcs=("sum", "max"))
        b.add(rain.data_links([installer_link(o, SERIES_EUI)]))
    b.add(mean_panel(o, Q.ATMOSPHERIC_PRESSURE, o.label(Q.ATMOSPHERIC_PRESSURE), env), w=24)
    return b.json()
