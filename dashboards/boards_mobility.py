"""The staff dashboards for visitors and traffic: Tourism, Traffic (with parking)."""

from __future__ import annotations

from dashboards.boards_city import variables
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
    target,
    thresholds,
    timeseries,
    unit_of,
)
from dashboards.influxql import counter_increase, select
from decoders.quantities import Quantity as Q


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
