"""The installers' dashboard: problems first, then network and devices (``lorawan_uplink``)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import (
    bargauge,
    histogram,
    piechart,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as gm
from grafana_foundation_sdk.models import piechart as piemodel

from dashboards import interval as res
from dashboards import marks
from dashboards.boards_city import variables
from dashboards.boards_mobility import bar_look, stat_look
from dashboards.grafana import (
    GREEN,
    ROW_EUI,
    SERIES_EUI,
    Board,
    Json,
    Options,
    common_panel,
    describe,
    installer_link,
    legend,
    lines,
    link_value,
    prop,
    reduce,
    rename,
    target,
    to_json,
    transform,
    unit_override,
)
from dashboards.influxql import (
    ALERT,
    ROLLUP_LOSS,
    ROLLUP_MISSED,
    UPLINK,
    UPLINK_UNITS,
    rollup_missed_hours,
    rollup_select,
    select,
)
from decoders.quantities import CATALOGUE
from decoders.quantities import Quantity as Q

CATALOGUE_UNIT = {q: info.grafana_unit for q, info in CATALOGUE.items()}

#: window for "last seen": longer than any dashboard range so silent devices still show
SEEN_WINDOW = "time > now() - 30d"
#: window for the typical interval (median gap): two days hold enough gaps of any device
#: that reports at least every few hours, and reading 30 days of uplinks took 14 s (#15)
INTERVAL_WINDOW = "time > now() - 2d"
#: a device is identified in tables by these tags (name and site from the registry)
DEVICE_TAGS = ("device", "name", "site", "dev_eui")
#: per-device series: name for the legend, DevEUI for the installer link
BY_DEVICE = ("name", "device", "dev_eui")
ALIAS = "$tag_name"
#: the frame-loss panels read the hourly rollup (dashboards/rollup.py)
ROLLUP_NOTE_DE = (
    "Aus der stündlichen Zusammenfassung je Gerät (lorawan-monitor dashboards rollup, "
    "alle 5 Minuten), ganze Stunden des Zeitraums."
)
ROLLUP_NOTE_EN = (
    "From the hourly per-device rollup (lorawan-monitor dashboards rollup, every 5 minutes), "
    "whole hours of the range."
)


def _table(p: table.Panel) -> table.Panel:
    return p.cell_height(common.TableCellHeight.SM).show_header(True)


def _device_columns(o: Options, p: table.Panel, *, hide_eui: bool = True) -> table.Panel:
    """Name column in German/English linked to the installer page, site renamed."""
    p = p.override_by_name(
        "name",
        [
            prop("displayName", o.t("Gerät", "Device")),
            prop(
                "links",
                link_value(o.t("Installationsseite", "Installer page"), o.installer(ROW_EUI)),
            ),
        ],
    )
    p = rename(p, "site", o.t("Standort", "Site"))
    p = rename(p, "device", o.t("Geräte-ID", "Device id"))
    return rename(p, "dev_eui", "DevEUI")


def _problems(o: Options, b: Board) -> None:
    """One table of devices that need someone: silent, low battery, decode errors."""
    recent = f"time > now() - {marks.SILENT_AFTER}"
    seen = select(
        'last("f_cnt") AS "f_cnt"', UPLINK, None, *DEVICE_TAGS, every=None, time=SEEN_WINDOW
    )
    fresh = select('count("f_cnt") AS "recent"', UPLINK, None, "device", every=None, time=recent)
    errors = select(
        'count("f_cnt") AS "decode_errors"',
        UPLINK,
        None,
        "device",
        every=None,
        extra="(\"decode_status\" = 'error' OR \"decode_status\" = 'codec_error')",
    )
    pct = select(
        'last("value") AS "battery"', Q.BATTERY, None, "device", every=None, time=SEEN_WINDOW
    )
    volts = select(
        'last("value") AS "battery_voltage"',
        Q.BATTERY_VOLTAGE,
        None,
        "device",
        every=None,
        time=SEEN_WINDOW,
    )
    p = common_panel(
        table.Panel(),
        o.t("Probleme", "Problems"),
        o.t(
            f"Geräte, die Aufmerksamkeit brauchen: still (seit {marks.SILENT_AFTER} kein Uplink, "
            f"in 30 Tagen gesehen), Batterie schwach (unter {marks.BATTERY_LOW_PERCENT:g} % bzw. "
            f"{marks.BATTERY_LOW_VOLTS:g} V) oder Dekodierfehler im Zeitraum. Leer = alles in "
            "Ordnung. Der Name führt zur Installationsseite.",
            f"Devices that need someone: silent (no uplink for {marks.SILENT_AFTER}, seen within "
            f"30 days), low battery (below {marks.BATTERY_LOW_PERCENT:g} % or "
            f"{marks.BATTERY_LOW_VOLTS:g} V) or decode errors in the range. Empty = all well. "
            "The name links to the installer page.",
        ),
        [
            target("A", seen, fmt="table"),
            target("B", fresh, fmt="table"),
            target("C", errors, fmt="table"),
            target("D", pct, fmt="table"),
            target("E", volts, fmt="table"),
        ],
    )
    p = _device_columns(o, _table(p))
    p = unit_override(p, "Time 1", "dateTimeFromNow")
    p = rename(p, "Time 1", o.t("Zuletzt gesehen", "Last seen"))
    p = unit_override(p, "battery", "percent")
    p = unit_override(p, "battery_voltage", "volt")
    p = rename(p, "battery", o.t("Batterie", "Battery"))
    p = rename(p, "battery_voltage", o.t("Batteriespannung", "Battery voltage"))
    p = rename(
        p,
        "recent",
        o.t(f"Uplinks letzte {marks.SILENT_AFTER}", f"Uplinks last {marks.SILENT_AFTER}"),
    )
    p = rename(p, "decode_errors", o.t("Dekodierfehler", "Decode errors"))
    for name, steps in (
        ("battery", marks.BATTERY_PERCENT),
        ("battery_voltage", marks.BATTERY_VOLTS),
    ):
        p = p.override_by_name(
            name,
            [
                prop(
                    "thresholds",
                    {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]},
                ),
                prop("custom.cellOptions", {"type": "color-background"}),
            ],
        )
    for kind, opts in (
        ("joinByField", {"byField": "device", "mode": "outer"}),
        (
            "filterByValue",
            {
                "type": "include",
                "match": "any",
                "filters": [
                    {"fieldName": "recent", "config": {"id": "isNull", "options": {}}},
                    {
                        "fieldName": "decode_errors",
                        "config": {"id": "greater", "options": {"value": 0}},
                    },
                    {
                        "fieldName": "battery",
                        "config": {"id": "lower", "options": {"value": marks.BATTERY_LOW_PERCENT}},
                    },
                    {
                        "fieldName": "battery_voltage",
                        "config": {"id": "lower", "options": {"value": marks.BATTERY_LOW_VOLTS}},
                    },
                ],
            },
        ),
        ("sortBy", {"sort": [{"field": "Time 1"}]}),
        (
            "organize",
            {
                "excludeByName": {
                    "Time 2": True,
                    "Time 3": True,
                    "Time 4": True,
                    "Time 5": True,
                    "f_cnt": True,
                }
            },
        ),
    ):
        p = p.with_transformation(transform(kind, opts))
    b.add(p.no_value(o.t("Keine Probleme", "No problems")), w=24, h=8)


def _alerts(o: Options, b: Board) -> None:
    """Alert state from the alert evaluator (measurement ``lorawan_alert``; may not exist)."""
    filt = '"site" =~ /^$site$/'
    timeline = (
        f'SELECT last("firing") FROM "{ALERT}" WHERE $timeFilter AND {filt}'
        ' GROUP BY time($__interval), "rule", "device", "dev_eui" fill(previous)'
    )
    p = common_panel(
        statetimeline.Panel(),
        o.t("Alarme", "Alerts"),
        o.t(
            "Zustand der Alarmregeln je Gerät: rot = ausgelöst, grün = in Ordnung (Messgröße "
            "lorawan_alert des Alarmdienstes). Leer, solange keine Regel ausgewertet wurde.",
            "Alert rules per device: red = firing, green = ok (measurement lorawan_alert of "
            "the alert evaluator). Empty until a rule has been evaluated.",
        ),
        [target("A", timeline, alias="$tag_rule · $tag_device")],
        th=((None, "green"), (1, "red")),
        resolution=res.STATE_TIMELINE,
    )
    p = (
        p.show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .mappings(
            [
                _value_map({"0": ("ok", "green"), "1": (o.t("ausgelöst", "firing"), "red")}),
            ]
        )
        .data_links([installer_link(o, SERIES_EUI)])
        .no_value(o.t("Keine Alarme", "No alerts"))
    )
    b.add(p, w=14, h=8)
    now = (
        'SELECT last("state") AS "state", last("firing") AS "firing" '
        f'FROM "{ALERT}" WHERE {SEEN_WINDOW} AND {filt} '
        'GROUP BY "rule", "severity", "device", "dev_eui", "site"'
    )
    t = common_panel(
        table.Panel(),
        o.t("Alarmzustand jetzt", "Alert state now"),
        o.t(
            "Letzter Zustand je Regel und Gerät (pending, firing, resolved, ok); ausgelöste "
            "zuerst. Die Geräte-ID führt zur Installationsseite.",
            "Last state per rule and device (pending, firing, resolved, ok); firing first. "
            "The device id links to the installer page.",
        ),
        [target("A", now, fmt="table")],
    )
    t = _table(t).sort_by([cb.TableSortByFieldState().display_name("firing").desc(True)])
    t = t.override_by_name(
        "device",
        [
            prop("displayName", o.t("Gerät", "Device")),
            prop(
                "links",
                link_value(o.t("Installationsseite", "Installer page"), o.installer(ROW_EUI)),
            ),
        ],
    )
    t = rename(t, "rule", o.t("Regel", "Rule"))
    t = rename(t, "severity", o.t("Schwere", "Severity"))
    t = rename(t, "site", o.t("Standort", "Site"))
    t = t.override_by_name(
        "state",
        [
            prop("displayName", o.t("Zustand", "State")),
            prop("mappings", [to_json(_value_map(_states(o)))]),
            prop("custom.cellOptions", {"type": "color-text"}),
        ],
    )
    t = unit_override(t, "Time", "dateTimeFromNow")
    b.add(t.no_value(o.t("Keine Alarme", "No alerts")), w=10, h=8)


def _states(o: Options) -> dict[str, tuple[str, str]]:
    """The alert states of the contract, in words and colours."""
    return {
        "pending": (o.t("ausstehend", "pending"), "yellow"),
        "firing": (o.t("ausgelöst", "firing"), "red"),
        "resolved": (o.t("behoben", "resolved"), "blue"),
        "ok": ("ok", "green"),
    }


def _value_map(options: dict[str, tuple[str, str]]) -> gm.ValueMap:
    return gm.ValueMap(
        options={
            k: gm.ValueMappingResult(text=text, color=color, index=i)
            for i, (k, (text, color)) in enumerate(options.items())
        }
    )


def _radio(o: Options, b: Board, field: str, title: str, desc: str, agg: str = "mean") -> None:
    p = common_panel(
        timeseries.Panel(),
        title,
        desc,
        [target("A", select(f'{agg}("{field}")', UPLINK, None, *BY_DEVICE), alias=ALIAS)],
        unit=UPLINK_UNITS[field],
        resolution=res.PER_DEVICE,
    )
    b.add(lines(p).data_links([installer_link(o, SERIES_EUI)]))


def _overview(o: Options, b: Board) -> None:
    b.row(o.t("Überblick", "Overview"))
    stats: list[tuple[str, str, str, marks.Steps, str]] = [
        (
            "Uplinks",
            select('count("f_cnt")', UPLINK, None, every=None),
            "none",
            GREEN,
            o.t("Empfangene Uplinks im Zeitraum.", "Uplinks received in the range."),
        ),
        (
            o.t("Dekodiert", "Decoded"),
            select('mean("decode_ok") * 100', UPLINK, None, every=None),
            "percent",
            marks.DECODED,
            o.t("Anteil erfolgreich dekodierter Uplinks.", "Share of uplinks decoded."),
        ),
        (
            o.t("Paketverlust", "Frame loss"),
            rollup_select(ROLLUP_LOSS),
            "percent",
            marks.LOSS,
            o.t(
                "Fehlende Frames (Lücken im Frame-Zähler) / erwartete Frames. " + ROLLUP_NOTE_DE,
                "Missed frames (frame-counter gaps) / expected frames. " + ROLLUP_NOTE_EN,
            ),
        ),
    ]
    for title, query, unit, th, desc in stats:
        p = common_panel(stat.Panel(), title, desc, [target("A", query)], unit=unit, th=th)
        b.add(stat_look(p), w=6, h=5)
    active = (
        'SELECT count("n") FROM ('
        + select('count("f_cnt") AS "n"', UPLINK, None, "device", every=None)
        + ")"
    )
    p = common_panel(
        stat.Panel(),
        o.t("Aktive Geräte", "Active devices"),
        o.t(
            "Geräte mit mindestens einem Uplink im Zeitraum.",
            "Devices with an uplink in the range.",
        ),
        [target("A", active)],
        th=GREEN,
    )
    b.add(stat_look(p), w=6, h=5)
    per_hour = common_panel(
        timeseries.Panel(),
        o.t("Uplinks je Stunde", "Uplinks per hour"),
        o.t("Uplinks je Stunde und Anwendung.", "Uplinks per hour and application."),
        [
            target(
                "A",
                select('count("f_cnt")', UPLINK, None, "application", every="1h", fill="0"),
                alias="$tag_application",
            )
        ],
        interval="1h",
    )
    b.add(lines(per_hour, bars=True, stack=True, calcs=("sum", "max")), w=24)


def _silent(o: Options, b: Board) -> None:
    b.row(o.t("Stille Geräte", "Silent devices"))
    p = common_panel(
        statetimeline.Panel(),
        o.t("Uplinks je Gerät im Verlauf (rot = still)", "Uplinks per device (red = silent)"),
        o.t(
            "Uplinks je Gerät und Zeitabschnitt; Abschnitte ohne Uplink sind rot. Ein "
            "Abschnitt ist mindestens eine Stunde lang (7 Tage: 1 Stunde, 30 Tage: 3 Stunden).",
            "Uplinks per device and time bucket; buckets without an uplink are red. A bucket "
            "is at least an hour (7 days: 1 hour, 30 days: 3 hours).",
        ),
        [
            target(
                "A",
                select('count("f_cnt")', UPLINK, None, *BY_DEVICE, fill="0"),
                alias=ALIAS,
            )
        ],
        th=((None, "red"), (1, "green")),
        resolution=res.SILENT_TIMELINE,
    )
    p = p.show_value(common.VisibilityMode.NEVER).merge_values(False).row_height(0.8)
    b.add(p.data_links([installer_link(o, SERIES_EUI)]), w=24, h=10)
    seen = select(
        'last("f_cnt") AS "f_cnt", last("rssi") AS "rssi", last("snr") AS "snr", '
        'last("gateway_count") AS "gateway_count"',
        UPLINK,
        None,
        *DEVICE_TAGS,
        "model",
        every=None,
        time=SEEN_WINDOW,
    )
    interval = (
        'SELECT median("gap") AS "typical_interval" FROM ('
        + select(
            'elapsed("f_cnt", 1s) AS "gap"',
            UPLINK,
            None,
            "device",
            every=None,
            time=INTERVAL_WINDOW,
        )
        + ') GROUP BY "device"'
    )
    t = common_panel(
        table.Panel(),
        o.t("Letzter Uplink je Gerät (älteste zuerst)", "Last uplink per device (oldest first)"),
        o.t(
            "Zuletzt gesehen (30 Tage) und übliches Sendeintervall (Median der Abstände der "
            "letzten 2 Tage). Ein Gerät, dessen letzter Uplink viel älter ist als sein "
            "Intervall, ist still.",
            "Last seen within 30 days and the device's typical interval (median gap over the "
            "last 2 days). A device whose last uplink is much older than its interval is "
            "silent.",
        ),
        [target("A", seen, fmt="table"), target("B", interval, fmt="table")],
    )
    t = _device_columns(o, _table(t))
    t = unit_override(t, "Time 1", "dateTimeFromNow")
    t = rename(t, "Time 1", o.t("Zuletzt gesehen", "Last seen"))
    t = unit_override(t, "typical_interval", "s")
    t = rename(t, "typical_interval", o.t("Übliches Intervall", "Typical interval"))
    t = unit_override(t, "rssi", UPLINK_UNITS["rssi"])
    t = unit_override(t, "snr", UPLINK_UNITS["snr"])
    t = rename(t, "gateway_count", "Gateways")
    t = rename(t, "model", o.t("Modell", "Model"))
    for kind, opts in (
        ("joinByField", {"byField": "device", "mode": "outer"}),
        ("sortBy", {"sort": [{"field": "Time 1"}]}),
        ("organize", {"excludeByName": {"Time 2": True, "f_cnt": True}}),
    ):
        t = t.with_transformation(transform(kind, opts))
    b.add(t, w=24, h=10)


def _decoding(o: Options, b: Board) -> None:
    b.row(o.t("Dekodierung", "Decoding"))
    p = common_panel(
        timeseries.Panel(),
        o.t("Dekodierfehler je Modell", "Decode errors by model"),
        o.t(
            "Uplinks, deren Nutzdaten nicht dekodiert werden konnten.",
            "Uplinks whose payload could not be decoded.",
        ),
        [
            target(
                "A",
                select(
                    'count("f_cnt")',
                    UPLINK,
                    None,
                    "model",
                    # codec_error: the model's codec cannot run at all (#13)
                    extra="(\"decode_status\" = 'error' OR \"decode_status\" = 'codec_error')",
                ),
                alias="$tag_model",
            )
        ],
        resolution=res.FLEET,
    )
    b.add(lines(p, bars=True, stack=True, calcs=("sum", "max")))
    t = common_panel(
        table.Panel(),
        o.t("Uplinks je Modell und Dekodierstatus", "Uplinks by model and decode status"),
        "decoded | lns_decoded | lns_normalized | error | codec_error | no_decoder | no_payload",
        [
            target(
                "A",
                select(
                    'count("f_cnt") AS "uplinks"',
                    UPLINK,
                    None,
                    "model",
                    "decode_status",
                    every=None,
                ),
                fmt="table",
            )
        ],
    )
    t = rename(_table(t), "model", o.t("Modell", "Model"))
    t = rename(t, "decode_status", o.t("Dekodierstatus", "Decode status"))
    b.add(t)


def _radio_row(o: Options, b: Board) -> None:
    b.row(o.t("Funk", "Radio"))
    _radio(
        o,
        b,
        "rssi",
        o.t("RSSI je Gerät", "RSSI per device"),
        o.t("Mittlerer Empfangspegel des besten Gateways.", "Mean RSSI of the best gateway."),
    )
    _radio(
        o,
        b,
        "snr",
        o.t("SNR je Gerät", "SNR per device"),
        o.t("Mittlerer Signal-Rausch-Abstand.", "Mean signal-to-noise ratio."),
    )
    h = common_panel(
        histogram.Panel(),
        o.t("Verteilung des RSSI über die Geräte", "RSSI distribution over devices"),
        o.t(
            "Mittlerer RSSI je Gerät im Zeitraum, als Histogramm: Geräte links sind schlecht "
            "versorgt. (Ein Wert je Gerät statt je Uplink: 30 Tage × 500 Geräte wären über "
            "2 Millionen Werte für den Browser.)",
            "Mean RSSI per device in the range as a histogram: devices on the left have poor "
            "coverage. (One value per device, not per uplink: 30 days × 500 devices would be "
            "over 2 million values for the browser.)",
        ),
        [
            target(
                "A",
                select('mean("rssi")', UPLINK, None, *BY_DEVICE, every=None),
                alias=ALIAS,
            )
        ],
        unit=UPLINK_UNITS["rssi"],
    )
    h = h.bucket_size(5).combine(True).legend(legend().show_legend(False))
    b.add(h.data_links([installer_link(o, SERIES_EUI)]), w=8)
    pie = common_panel(
        piechart.Panel(),
        o.t("Spreizfaktoren", "Spreading factor"),
        o.t(
            "Uplinks je Spreizfaktor; hoher SF = lange Sendezeit.",
            "Uplinks per spreading factor; high SF = long airtime.",
        ),
        [
            target(
                chr(ord("A") + sf - 7),
                select(
                    'count("spreading_factor")',
                    UPLINK,
                    None,
                    every=None,
                    extra=f'"spreading_factor" = {sf}',
                ),
                alias=f"SF{sf}",
            )
            for sf in range(7, 13)
        ],
    )
    pie = pie.pie_type(piemodel.PieChartType.DONUT).reduce_options(reduce()).legend(_pie_legend())
    b.add(pie, w=8)
    gw = common_panel(
        timeseries.Panel(),
        o.t("Gateways je Uplink", "Gateways per uplink"),
        o.t(
            "Gateways, die einen Uplink empfangen haben; 1 = keine Redundanz.",
            "Gateways that received each uplink; 1 = no redundancy.",
        ),
        [target("A", select('mean("gateway_count")', UPLINK, None, *BY_DEVICE), alias=ALIAS)],
        decimals=1,
        resolution=res.PER_DEVICE,
    )
    b.add(lines(gw).data_links([installer_link(o, SERIES_EUI)]), w=8)
    _radio(
        o,
        b,
        "airtime",
        o.t("Sendezeit je Gerät", "Airtime per device"),
        o.t("Summe der Sendezeit.", "Sum of airtime."),
        agg="sum",
    )
    _radio(
        o,
        b,
        "snr",
        o.t("Schlechtester SNR je Gerät", "Worst SNR per device"),
        o.t("Minimaler SNR.", "Minimum SNR."),
        agg="min",
    )


def _pie_legend() -> piechart.PieChartLegendOptions:
    return (
        piechart.PieChartLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.RIGHT)
        .show_legend(True)
        .values([piemodel.PieChartLegendValues.VALUE, piemodel.PieChartLegendValues.PERCENT])
    )


def _batteries(o: Options, b: Board) -> None:
    b.row(o.t("Batterien", "Batteries"))
    for q, steps, title, extra in (
        (
            Q.BATTERY,
            marks.BATTERY_PERCENT,
            o.t("Batterie je Gerät", "Battery per device"),
            o.t("rot unter 20 %, orange unter 40 %.", "red below 20 %, orange below 40 %."),
        ),
        (
            Q.BATTERY_VOLTAGE,
            marks.BATTERY_VOLTS,
            o.t("Batteriespannung je Gerät", "Battery voltage per device"),
            o.t(
                "Li-SOCl₂-Zelle (3,6 V, z. B. LHT65): orange unter 3,3 V, rot unter 3,0 V.",
                "Li-SOCl₂ cell (3.6 V, e.g. LHT65): orange below 3.3 V, red below 3.0 V.",
            ),
        ),
    ):
        gauge = common_panel(
            bargauge.Panel(),
            title,
            describe(o, q, o.t("Letzte Meldung je Gerät; ", "Last report per device; ") + extra),
            [target("A", select('last("value")', q, None, *BY_DEVICE, every=None), alias=ALIAS)],
            unit=CATALOGUE_UNIT[q],
            th=steps,
            minimum=0 if q is Q.BATTERY else 2.5,
            maximum=100 if q is Q.BATTERY else 3.7,
        )
        b.add(bar_look(gauge).data_links([installer_link(o, SERIES_EUI)]))
    level = common_panel(
        timeseries.Panel(),
        o.t("Batteriestand im Verlauf", "Battery level over time"),
        describe(o, Q.BATTERY),
        [target("A", select('mean("value")', Q.BATTERY, None, *BY_DEVICE), alias=ALIAS)],
        unit=CATALOGUE_UNIT[Q.BATTERY],
        th=marks.BATTERY_PERCENT,
        color_by_thresholds=False,
        minimum=0,
        maximum=100,
        resolution=res.PER_DEVICE_SLOW,
    )
    level = lines(level, marks=common.GraphThresholdsStyleMode.DASHED)
    b.add(level.data_links([installer_link(o, SERIES_EUI)]), w=24)


def _frames(o: Options, b: Board) -> None:
    b.row(o.t("Frame-Zähler", "Frame counter"))
    p = common_panel(
        timeseries.Panel(),
        o.t("Fehlende Frames je Stunde", "Missed frames per hour"),
        o.t(
            "Frames, die zwischen zwei empfangenen Uplinks fehlen, aus den gespeicherten "
            "Frame-Zählern (ein Zähler-Neustart ist kein Verlust); nur Stunden mit Verlust. "
            + ROLLUP_NOTE_DE,
            "Frames missing between two received uplinks, from the stored frame counters "
            "(a counter reset is not a loss); only hours with a loss. " + ROLLUP_NOTE_EN,
        ),
        [target("A", rollup_missed_hours("device"), alias="$tag_device")],
        interval="1h",
    )
    p = p.no_value(o.t("Keine fehlenden Frames", "No missed frames"))
    b.add(lines(p, bars=True, stack=True, calcs=("sum", "max")))
    t = common_panel(
        table.Panel(),
        o.t("Paketverlust je Gerät", "Frame loss per device"),
        o.t(
            "Empfangene und fehlende Frames im Zeitraum (Lücken im Frame-Zähler). "
            + ROLLUP_NOTE_DE,
            "Received and missed frames in the range (frame-counter gaps). " + ROLLUP_NOTE_EN,
        ),
        [
            target(
                "A",
                rollup_select('sum("uplinks") AS "received"', *DEVICE_TAGS),
                fmt="table",
            ),
            target(
                "B",
                rollup_select(f'{ROLLUP_MISSED} AS "missed", {ROLLUP_LOSS} AS "loss"', "device"),
                fmt="table",
            ),
        ],
    )
    t = _device_columns(o, _table(t))
    t = unit_override(t, "loss", "percent")
    t = rename(t, "received", o.t("Empfangen", "Received"))
    t = rename(t, "missed", o.t("Fehlend", "Missed"))
    t = rename(t, "loss", o.t("Verlust", "Loss"))
    t = t.sort_by([cb.TableSortByFieldState().display_name(o.t("Verlust", "Loss")).desc(True)])
    for kind, opts in (
        ("joinByField", {"byField": "device", "mode": "outer"}),
        ("organize", {"excludeByName": {"Time 1": True, "Time 2": True}}),
    ):
        t = t.with_transformation(transform(kind, opts))
    b.add(t)


def network(o: Options) -> Json:
    b = Board(
        o=o,
        uid="lorawan-network",
        title=o.t("LoRaWAN – Netz und Geräte", "LoRaWAN – Network & devices"),
        description=o.t(
            "Probleme, Alarme, Uplinks, stille Geräte, Dekodierung, Funk, Batterien",
            "Problems, alerts, uplinks, silent devices, decoding, radio, batteries",
        ),
        tags=["network"],
        variables=variables(o, None),
    )
    b.row(o.t("Probleme und Alarme", "Problems and alerts"))
    _problems(o, b)
    _alerts(o, b)
    _overview(o, b)
    _silent(o, b)
    _decoding(o, b)
    _radio_row(o, b)
    _batteries(o, b)
    _frames(o, b)
    return b.json()
