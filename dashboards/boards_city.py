"""The staff dashboards: Environment, Tourism, Traffic."""

from __future__ import annotations

from dashboards.grafana import (
    BARGAUGE,
    GREEN,
    LEGEND,
    LEGEND_SUM,
    STAT,
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
from dashboards.influxql import LOCATION, counter_increase, select, where
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


def _parking(b: Board, category: str) -> None:
    b.row("Parking — Parken")
    occ = Q.OCCUPIED
    now = (
        'SELECT sum("last") AS "occupied", count("last") - sum("last") AS "free" FROM ('
        + select('last("value")', occ, category, "device", "site", every=None)
        + ') GROUP BY "site"'
    )
    b.add(
        "stat",
        "Parking spaces now",
        [target("A", now, alias="$tag_site $col")],
        desc="Occupied and free spaces, last report per space. DE: Belegte und freie Stellplätze.",
        unit=unit_of(occ),
        options=STAT,
        th=GREEN,
        w=8,
    )
    b.add(
        "timeseries",
        "Parking occupancy",
        [
            target(
                "A",
                select('mean("value") * 100', occ, category, "site"),
                alias="$tag_site",
            )
        ],
        desc="Share of spaces occupied (mean over spaces and interval). DE: Auslastung in %.",
        unit="percent",
        custom=timeseries(),
        options=LEGEND,
        th=thresholds((None, "green"), (70, "orange"), (90, "red")),
        minimum=0,
        maximum=100,
        w=16,
    )
    b.add(
        "state-timeline",
        "Occupancy per space",
        [
            target(
                "A",
                select('last("value")', occ, category, "device", fill="previous"),
                alias="$tag_device",
            )
        ],
        desc=description(occ, "0 = free (frei), 1 = occupied (belegt)."),
        unit=unit_of(occ),
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
        th=thresholds((None, "green"), (1, "red")),
        w=24,
    )


def _counts(b: Board, category: str, interval_q: Q, total_q: Q, label: str, ref: str) -> None:
    """Per-hour and per-day bars from interval counts plus counter devices."""
    for every, title in (("1h", "per hour"), ("1d", "per day")):
        tz = every == "1d"
        b.add(
            "timeseries",
            f"{label} {title}",
            [
                target(
                    "A",
                    select('sum("value")', interval_q, category, "site", every=every, tz=tz),
                    alias=f"{ref} $tag_site",
                ),
                target(
                    "B",
                    counter_increase(total_q, category, "site", every=every, tz=tz),
                    alias=f"{ref} (counter) $tag_site",
                ),
            ],
            desc=description(
                interval_q,
                f"Sum per {every} and site; devices that report running totals "
                f"({total_q.value}) are added as increases.",
            ),
            unit=unit_of(interval_q),
            custom=timeseries(bars=True, stack=True),
            options=LEGEND_SUM,
            interval=every,
        )


def tourism() -> Json:
    b = Board(
        uid="lorawan-tourism",
        title="LoRaWAN – Tourism",
        description="Visitors and parking — DE: Besucher und Parken",
        tags=["lorawan", "tourism"],
        variables=variables("tourism"),
    )
    b.row("Visitors — Besucher")
    for q in (Q.PEOPLE_IN, Q.PEOPLE_OUT):
        b.add(
            "stat",
            f"{q.value.replace('_', ' ').capitalize()} (time range)",
            [
                target(
                    "A",
                    select('sum("value")', q, "tourism", "site", every=None),
                    alias="$tag_site",
                )
            ],
            desc=description(q, "Sum over the selected time range per site."),
            unit=unit_of(q),
            options=STAT,
            th=GREEN,
        )
    _counts(b, "tourism", Q.PEOPLE_IN, Q.PEOPLE_IN_TOTAL, "People in", "in")
    _counts(b, "tourism", Q.PEOPLE_OUT, Q.PEOPLE_OUT_TOTAL, "People out", "out")
    hourly = select('sum("value") AS "people"', Q.PEOPLE_IN, "tourism", every="1h")
    b.add(
        "table",
        "Busiest hours (weekday × hour)",
        [target("A", hourly, fmt="table")],
        desc=description(
            Q.PEOPLE_IN,
            "Mean people in per hour slot: rows = hour of day, columns = weekday. "
            "DE: Stoßzeiten (Wochentag × Stunde).",
        ),
        unit=unit_of(Q.PEOPLE_IN),
        w=24,
        h=14,
        options=TABLE,
        custom={"cellOptions": {"type": "color-background", "mode": "gradient"}},
        th=thresholds((None, "transparent"), (1, "green"), (20, "yellow"), (50, "red")),
        decimals=1,
        transformations=[
            {
                "id": "calculateField",
                "options": {
                    "mode": "binary",
                    "alias": "hour",
                    "binary": {"left": "Time", "operator": "+", "right": "0"},
                },
            },
            {
                "id": "convertFieldType",
                "options": {
                    "conversions": [
                        {"targetField": "hour", "destinationType": "time"},
                    ]
                },
            },
            {
                "id": "convertFieldType",
                "options": {
                    "conversions": [
                        {"targetField": "Time", "destinationType": "string", "dateFormat": "E ddd"},
                        {"targetField": "hour", "destinationType": "string", "dateFormat": "HH"},
                    ]
                },
            },
            {
                "id": "groupBy",
                "options": {
                    "fields": {
                        "Time": {"operation": "groupby"},
                        "hour": {"operation": "groupby"},
                        "people": {"aggregations": ["mean"], "operation": "aggregate"},
                    }
                },
            },
            {
                "id": "groupingToMatrix",
                "options": {
                    "columnField": "Time",
                    "rowField": "hour",
                    "valueField": "people (mean)",
                },
            },
            {"id": "sortBy", "options": {"sort": [{"field": "hour\\Time"}]}},
        ],
    )
    _parking(b, "tourism")
    return b.json()


def traffic() -> Json:
    b = Board(
        uid="lorawan-traffic",
        title="LoRaWAN – Traffic",
        description="Vehicle counts and parking — DE: Verkehrszählung und Parken",
        tags=["lorawan", "traffic"],
        variables=variables("traffic"),
    )
    b.row("Vehicles — Fahrzeuge")
    b.add(
        "bargauge",
        "Vehicles (time range)",
        [
            target(
                "A",
                select('sum("value")', Q.VEHICLE_COUNT, "traffic", "site", every=None),
                alias="$tag_site",
            )
        ],
        desc=description(Q.VEHICLE_COUNT, "Sum over the selected time range per site."),
        unit=unit_of(Q.VEHICLE_COUNT),
        options=BARGAUGE,
        th=GREEN,
        w=24,
        h=5,
    )
    _counts(b, "traffic", Q.VEHICLE_COUNT, Q.VEHICLE_COUNT_TOTAL, "Vehicles", "vehicles")
    _parking(b, "traffic")
    return b.json()
