"""The staff dashboards for visitors and traffic: Tourism, Traffic (with parking)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.models import common

from dashboards import marks
from dashboards.boards_city import ALIAS, BY, variables
from dashboards.grafana import (
    GREEN,
    SERIES_EUI,
    Board,
    Json,
    Options,
    common_panel,
    describe,
    installer_link,
    lines,
    reduce,
    target,
    transform,
    unit_of,
)
from dashboards.influxql import counter_increase, select
from dashboards.interval import FLEET, STATE_TIMELINE
from decoders.quantities import Quantity as Q


def stat_look(p: stat.Panel, calc: str = "lastNotNull") -> stat.Panel:
    return (
        p.color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(reduce(calc))
    )


def _parking(o: Options, b: Board, category: str) -> None:
    b.row(o.t("Parken", "Parking"))
    occ = Q.OCCUPIED
    now = (
        'SELECT sum("last") AS "occupied", count("last") - sum("last") AS "free" FROM ('
        + select('last("value")', occ, category, "device", "site", every=None)
        + ') GROUP BY "site"'
    )
    spaces = common_panel(
        stat.Panel(),
        o.t("Stellplätze jetzt", "Parking spaces now"),
        o.t(
            "Belegte und freie Stellplätze, letzte Meldung je Stellplatz.",
            "Occupied and free spaces, last report per space.",
        ),
        [target("A", now, alias="$tag_site $col")],
        unit=unit_of(occ),
        th=GREEN,
    )
    b.add(stat_look(spaces), w=8)
    share = common_panel(
        timeseries.Panel(),
        o.t("Auslastung der Parkplätze", "Parking occupancy"),
        o.t(
            "Anteil belegter Stellplätze (Mittel über Stellplätze und Intervall); "
            "ab 70 % orange, ab 90 % rot.",
            "Share of spaces occupied (mean over spaces and interval); orange from 70 %, "
            "red from 90 %.",
        ),
        [target("A", select('mean("value") * 100', occ, category, "site"), alias="$tag_site")],
        unit="percent",
        th=marks.OCCUPANCY,
        minimum=0,
        maximum=100,
        resolution=FLEET,
    )
    b.add(
        lines(share)
        .gradient_mode(common.GraphGradientMode.SCHEME)
        .thresholds_style(_style(common.GraphThresholdsStyleMode.DASHED)),
        w=16,
    )
    per_space = common_panel(
        statetimeline.Panel(),
        o.t("Belegung je Stellplatz", "Occupancy per space"),
        describe(
            o,
            occ,
            o.t("0 = frei (grün), 1 = belegt (rot).", "0 = free (green), 1 = occupied (red)."),
        ),
        [
            target(
                "A",
                select('last("value")', occ, category, *BY, fill="previous"),
                alias="$tag_site / $tag_name",
            )
        ],
        unit=unit_of(occ),
        th=((None, "green"), (1, "red")),
        resolution=STATE_TIMELINE,
    )
    b.add(
        per_space.show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .data_links([installer_link(o, SERIES_EUI)]),
        w=24,
    )


def _style(mode: common.GraphThresholdsStyleMode) -> cb.GraphThresholdsStyleConfig:
    return cb.GraphThresholdsStyleConfig().mode(mode)


def _counts(
    o: Options, b: Board, category: str, interval_q: Q, total_q: Q, label: str, ref: str
) -> None:
    """Per-hour and per-day bars from interval counts plus counter devices."""
    for every, title in (("1h", o.t("je Stunde", "per hour")), ("1d", o.t("je Tag", "per day"))):
        tz = every == "1d"
        p = common_panel(
            timeseries.Panel(),
            f"{label} {title}",
            describe(
                o,
                interval_q,
                o.t(
                    f"Summe je {every} und Standort (Tage nach Ortszeit); Zähler mit laufender "
                    f"Summe ({total_q.value}) kommen als Zuwachs dazu.",
                    f"Sum per {every} and site (local days); devices that report running "
                    f"totals ({total_q.value}) are added as increases.",
                ),
            ),
            [
                target(
                    "A",
                    select('sum("value")', interval_q, category, "site", every=every, tz=tz),
                    alias=f"{ref} $tag_site",
                ),
                target(
                    "B",
                    counter_increase(total_q, category, "site", every=every, tz=tz),
                    alias=f"{ref} ({o.t('Zähler', 'counter')}) $tag_site",
                ),
            ],
            unit=unit_of(interval_q),
            interval=every,
        )
        b.add(lines(p, bars=True, stack=True, calcs=("sum", "max")))


BUSIEST: list[tuple[str, Json]] = [
    (
        "calculateField",
        {
            "mode": "binary",
            "alias": "hour",
            "binary": {"left": "Time", "operator": "+", "right": "0"},
        },
    ),
    ("convertFieldType", {"conversions": [{"targetField": "hour", "destinationType": "time"}]}),
    (
        "convertFieldType",
        {
            "conversions": [
                {"targetField": "Time", "destinationType": "string", "dateFormat": "E ddd"},
                {"targetField": "hour", "destinationType": "string", "dateFormat": "HH"},
            ]
        },
    ),
    (
        "groupBy",
        {
            "fields": {
                "Time": {"operation": "groupby"},
                "hour": {"operation": "groupby"},
                "people": {"aggregations": ["mean"], "operation": "aggregate"},
            }
        },
    ),
    (
        "groupingToMatrix",
        {"columnField": "Time", "rowField": "hour", "valueField": "people (mean)"},
    ),
    ("sortBy", {"sort": [{"field": "hour\\Time"}]}),
]


def tourism(o: Options) -> Json:
    b = Board(
        o=o,
        uid="lorawan-tourism",
        title=o.t("LoRaWAN – Tourismus", "LoRaWAN – Tourism"),
        description=o.t("Besucher und Parken", "Visitors and parking"),
        tags=["tourism"],
        variables=variables(o, "tourism"),
    )
    b.row(o.t("Besucher", "Visitors"))
    for q, title in (
        (Q.PEOPLE_IN, o.t("Personen hinein (Zeitraum)", "People in (time range)")),
        (Q.PEOPLE_OUT, o.t("Personen hinaus (Zeitraum)", "People out (time range)")),
    ):
        p = common_panel(
            stat.Panel(),
            title,
            describe(o, q, o.t("Summe im Zeitraum je Standort.", "Sum over the range per site.")),
            [
                target(
                    "A", select('sum("value")', q, "tourism", "site", every=None), alias="$tag_site"
                )
            ],
            unit=unit_of(q),
            th=GREEN,
        )
        b.add(stat_look(p))
    _counts(
        o,
        b,
        "tourism",
        Q.PEOPLE_IN,
        Q.PEOPLE_IN_TOTAL,
        o.t("Personen hinein", "People in"),
        o.t("hinein", "in"),
    )
    _counts(
        o,
        b,
        "tourism",
        Q.PEOPLE_OUT,
        Q.PEOPLE_OUT_TOTAL,
        o.t("Personen hinaus", "People out"),
        o.t("hinaus", "out"),
    )
    hourly = select('sum("value") AS "people"', Q.PEOPLE_IN, "tourism", every="1h")
    busiest = common_panel(
        table.Panel(),
        o.t("Stoßzeiten (Wochentag × Stunde)", "Busiest hours (weekday × hour)"),
        describe(
            o,
            Q.PEOPLE_IN,
            o.t(
                "Mittlere Personen hinein je Stunde: Zeilen = Uhrzeit, Spalten = Wochentag.",
                "Mean people in per hour slot: rows = hour of day, columns = weekday.",
            ),
        ),
        [target("A", hourly, fmt="table")],
        unit=unit_of(Q.PEOPLE_IN),
        th=((None, "transparent"), (1, "green"), (20, "yellow"), (50, "red")),
        decimals=1,
    )
    busiest = (
        busiest.cell_height(common.TableCellHeight.SM)
        .show_header(True)
        .cell_options(
            common.TableColoredBackgroundCellOptions(
                mode=common.TableCellBackgroundDisplayMode.GRADIENT
            )
        )
    )
    for kind, opts in BUSIEST:
        busiest = busiest.with_transformation(transform(kind, opts))
    b.add(busiest, w=24, h=14)
    _parking(o, b, "tourism")
    return b.json()


def traffic(o: Options) -> Json:
    b = Board(
        o=o,
        uid="lorawan-traffic",
        title=o.t("LoRaWAN – Verkehr", "LoRaWAN – Traffic"),
        description=o.t("Verkehrszählung und Parken", "Vehicle counts and parking"),
        tags=["traffic"],
        variables=variables(o, "traffic"),
    )
    b.row(o.t("Fahrzeuge", "Vehicles"))
    total = common_panel(
        bargauge.Panel(),
        o.t("Fahrzeuge (Zeitraum)", "Vehicles (time range)"),
        describe(
            o,
            Q.VEHICLE_COUNT,
            o.t("Summe im Zeitraum je Standort.", "Sum over the range per site."),
        ),
        [
            target(
                "A",
                select('sum("value")', Q.VEHICLE_COUNT, "traffic", "site", every=None),
                alias="$tag_site",
            )
        ],
        unit=unit_of(Q.VEHICLE_COUNT),
        th=GREEN,
    )
    b.add(bar_look(total), w=24, h=5)
    _counts(
        o,
        b,
        "traffic",
        Q.VEHICLE_COUNT,
        Q.VEHICLE_COUNT_TOTAL,
        o.t("Fahrzeuge", "Vehicles"),
        o.t("Fahrzeuge", "vehicles"),
    )
    _parking(o, b, "traffic")
    return b.json()


def bar_look(p: bargauge.Panel) -> bargauge.Panel:
    return (
        p.display_mode(common.BarGaugeDisplayMode.LCD)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(reduce())
        .show_unfilled(True)
    )


__all__ = ["ALIAS", "tourism", "traffic"]
