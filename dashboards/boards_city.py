"""The staff dashboard for the environment, and the template variables all dashboards share."""

from __future__ import annotations

from dashboards.grafana import (
    LEGEND,
    LEGEND_SUM,
    TABLE,
    Board,
    Json,
    description,
    tag_variable,
    target,
    thresholds,
    timeseries,
    unit_of,
    unit_override,
)
from dashboards.influxql import LOCATION, select, where
from decoders.quantities import Quantity as Q

_BY = ("site", "device", "sensor")
_ALIAS = "$tag_site / $tag_device $tag_sensor"


def variables(category: str | None) -> list[Json]:
    cat = f"\"category\" = '{category}'" if category else ""
    app = '"application" =~ /^$application$/'
    site = '"site" =~ /^$site$/'
    join = " AND ".join
    return [
        tag_variable(
            "application", "Application", cat, desc="Application (LNS) — DE: Anwendung im LNS"
        ),
        tag_variable("site", "Site", join(p for p in (cat, app) if p), desc="DE: Standort"),
        tag_variable("device", "Device", join(p for p in (cat, app, site) if p), desc="DE: Gerät"),
    ]


def _mean_panel(b: Board, q: Q, title: str, *, th: Json | None = None, w: int = 12) -> None:
    b.add(
        "timeseries",
        title,
        [target("A", select('mean("value")', q, "environment", *_BY), alias=_ALIAS)],
        desc=description(q, "Mean per interval, per site, device and sensor."),
        unit=unit_of(q),
        custom=timeseries(),
        options=LEGEND,
        th=th,
        w=w,
    )


def environment() -> Json:
    b = Board(
        uid="lorawan-environment",
        title="LoRaWAN – Environment",
        description="Temperature, humidity, CO₂, water and weather — DE: Umwelt und Wetter",
        tags=["lorawan", "environment"],
        variables=variables("environment"),
    )
    latest: list[tuple[Q, str]] = [
        (Q.TEMPERATURE, "B"),
        (Q.RELATIVE_HUMIDITY, "C"),
        (Q.CO2, "D"),
        (Q.WATER_LEVEL, "E"),
    ]
    loc = target(
        "A",
        f'SELECT last("latitude") AS "latitude", last("longitude") AS "longitude" FROM "{LOCATION}"'
        f' WHERE {where("environment", time="time > 0")} GROUP BY "device", "site"',
        fmt="table",
    )
    last = [
        target(
            ref,
            select(f'last("value") AS "{q.value}"', q, "environment", "device", every=None),
            fmt="table",
        )
        for q, ref in latest
    ]
    join: list[Json] = [
        {"id": "joinByField", "options": {"byField": "device", "mode": "outer"}},
        {"id": "organize", "options": {"excludeByName": {"Time": True}}},
    ]
    overrides = [unit_override(q.value, unit_of(q)) for q, _ in latest]
    b.row("Latest values — Aktuelle Werte")
    b.add(
        "geomap",
        "Latest values on the map",
        [loc, *last],
        desc="Last value per device at its registry position (measurement device_location). "
        "DE: Letzte Werte je Gerät auf der Karte.",
        w=12,
        h=12,
        overrides=overrides,
        transformations=join,
        options={
            "view": {"id": "fit", "lat": 0, "lon": 0, "zoom": 12},
            "controls": {"showZoom": True, "mouseWheelZoom": False},
            "basemap": {"type": "default", "name": "Basemap"},
            "layers": [
                {
                    "type": "markers",
                    "name": "Devices",
                    "location": {
                        "mode": "coords",
                        "latitude": "latitude",
                        "longitude": "longitude",
                    },
                    "config": {
                        "showLegend": False,
                        "style": {
                            "size": {"fixed": 8},
                            "color": {"fixed": "dark-green"},
                            "text": {"mode": "field", "field": "device"},
                        },
                    },
                    "tooltip": True,
                }
            ],
            "tooltip": {"mode": "details"},
        },
    )
    b.add(
        "table",
        "Latest values per device",
        [loc, *last],
        desc="Last value in the time range. DE: Letzte Werte je Gerät.",
        w=12,
        h=12,
        overrides=overrides,
        transformations=join,
        options=TABLE,
    )
    b.row("Climate — Klima")
    _mean_panel(b, Q.TEMPERATURE, "Temperature", w=24)
    _mean_panel(b, Q.RELATIVE_HUMIDITY, "Relative humidity")
    _mean_panel(
        b,
        Q.CO2,
        "CO₂",
        th=thresholds((None, "green"), (1000, "orange"), (1400, "red")),
    )
    b.row("Water — Wasser")
    _mean_panel(b, Q.WATER_LEVEL, "Water level")
    _mean_panel(b, Q.DISTANCE, "Distance to surface")
    b.row("Weather — Wetter")
    b.add(
        "timeseries",
        "Wind speed and gusts",
        [
            target(
                "A",
                select('mean("value")', Q.WIND_SPEED, "environment", "site", "device"),
                alias="wind $tag_site / $tag_device",
            ),
            target(
                "B",
                select('max("value")', Q.WIND_GUST, "environment", "site", "device"),
                alias="gust $tag_site / $tag_device",
            ),
        ],
        desc=description(Q.WIND_SPEED, "Gusts: maximum per interval. DE: Böen (Maximum)."),
        unit=unit_of(Q.WIND_SPEED),
        custom=timeseries(),
        options=LEGEND,
    )
    b.add(
        "timeseries",
        "Wind direction",
        [
            target(
                "A",
                select('last("value")', Q.WIND_DIRECTION, "environment", "site", "device"),
                alias="$tag_site / $tag_device",
            )
        ],
        desc=description(Q.WIND_DIRECTION, "Last value per interval."),
        unit=unit_of(Q.WIND_DIRECTION),
        custom={**timeseries(points=True), "drawStyle": "points"},
        options=LEGEND,
        minimum=0,
        maximum=360,
    )
    for every, title in (("1h", "Precipitation per hour"), ("1d", "Precipitation per day")):
        b.add(
            "timeseries",
            title,
            [
                target(
                    "A",
                    select(
                        'sum("value")',
                        Q.PRECIPITATION,
                        "environment",
                        "site",
                        "device",
                        every=every,
                        tz=every == "1d",
                    ),
                    alias="$tag_site / $tag_device",
                )
            ],
            desc=description(Q.PRECIPITATION, f"Sum per {every}. DE: Summe je {every}."),
            unit=unit_of(Q.PRECIPITATION),
            custom=timeseries(bars=True),
            options=LEGEND_SUM,
            interval=every,
        )
    _mean_panel(b, Q.ATMOSPHERIC_PRESSURE, "Air pressure", w=24)
    return b.json()
