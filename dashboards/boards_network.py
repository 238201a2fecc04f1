"""The installers' dashboard: network and devices (measurement ``lorawan_uplink``)."""

from __future__ import annotations

from dashboards.boards_city import variables
from dashboards.grafana import (
    BARGAUGE,
    GREEN,
    LEGEND,
    LEGEND_SUM,
    LOW_BAD,
    STAT,
    TABLE,
    Board,
    Json,
    description,
    target,
    thresholds,
    timeseries,
    unit_of,
    unit_override,
)
from dashboards.influxql import LOSS, MISSED, UPLINK, UPLINK_UNITS, frame_loss, select
from decoders.quantities import Quantity as Q

#: window for "last seen": longer than any dashboard range so silent devices still show
SEEN_WINDOW = "time > now() - 30d"


def _radio(b: Board, field: str, title: str, agg: str = "mean", desc: str = "") -> None:
    b.add(
        "timeseries",
        title,
        [target("A", select(f'{agg}("{field}")', UPLINK, None, "device"), alias="$tag_device")],
        desc=desc,
        unit=UPLINK_UNITS[field],
        custom=timeseries(),
        options=LEGEND,
    )


def network() -> Json:
    b = Board(
        uid="lorawan-network",
        title="LoRaWAN – Network & devices",
        description="Uplinks, silent devices, decoding, radio, batteries — "
        "DE: Netz und Geräte für Installateure",
        tags=["lorawan", "network"],
        variables=variables(None),
    )
    b.row("Overview — Überblick")
    stats: list[tuple[str, str, str, Json, str]] = [
        (
            "Uplinks",
            select('count("f_cnt")', UPLINK, None, every=None),
            "none",
            GREEN,
            "DE: Empfangene Uplinks im Zeitraum.",
        ),
        (
            "Decoded",
            select('mean("decode_ok") * 100', UPLINK, None, every=None),
            "percent",
            thresholds((None, "red"), (90, "orange"), (99, "green")),
            "Share of uplinks decoded. DE: Anteil erfolgreich dekodierter Uplinks.",
        ),
        (
            "Frame loss",
            frame_loss(LOSS),
            "percent",
            thresholds((None, "green"), (1, "orange"), (5, "red")),
            "Missed frames (frame-counter gaps) / expected frames. DE: Paketverlust.",
        ),
    ]
    for title, query, unit, th, desc in stats:
        b.add(
            "stat",
            title,
            [target("A", query)],
            desc=desc,
            unit=unit,
            options=STAT,
            th=th,
            w=6,
            h=5,
        )
    active = (
        'SELECT count("n") FROM ('
        + select('count("f_cnt") AS "n"', UPLINK, None, "device", every=None)
        + ")"
    )
    b.add(
        "stat",
        "Active devices",
        [target("A", active)],
        desc="Devices with at least one uplink in the range. DE: Aktive Geräte.",
        options=STAT,
        th=GREEN,
        w=6,
        h=5,
    )
    b.add(
        "timeseries",
        "Uplinks per hour",
        [
            target(
                "A",
                select('count("f_cnt")', UPLINK, None, "application", every="1h", fill="0"),
                alias="$tag_application",
            )
        ],
        desc="Uplinks per hour and application. DE: Uplinks je Stunde.",
        custom=timeseries(bars=True, stack=True),
        options=LEGEND_SUM,
        interval="1h",
        w=24,
    )
    b.row("Silent devices — Stille Geräte")
    b.add(
        "state-timeline",
        "Uplinks per device and hour (red = silent)",
        [
            target(
                "A",
                select('count("f_cnt")', UPLINK, None, "device", every="1h", fill="0"),
                alias="$tag_device",
            )
        ],
        desc="Hours without an uplink are red. DE: Stunden ohne Uplink sind rot.",
        options={"showValue": "never", "mergeValues": False, "rowHeight": 0.8},
        th=thresholds((None, "red"), (1, "green")),
        interval="1h",
        w=24,
        h=10,
    )
    seen = select(
        'last("f_cnt") AS "f_cnt", last("rssi") AS "rssi", last("snr") AS "snr", '
        'last("gateway_count") AS "gateway_count"',
        UPLINK,
        None,
        "device",
        "model",
        "site",
        every=None,
        time=SEEN_WINDOW,
    )
    interval = (
        'SELECT median("gap") AS "typical_interval" FROM ('
        + select(
            'elapsed("f_cnt", 1s) AS "gap"', UPLINK, None, "device", every=None, time=SEEN_WINDOW
        )
        + ') GROUP BY "device"'
    )
    b.add(
        "table",
        "Last uplink per device (oldest first)",
        [target("A", seen, fmt="table"), target("B", interval, fmt="table")],
        desc="Last seen within 30 days and the device's typical interval (median gap). A device "
        "whose last uplink is much older than its interval is silent. DE: Zuletzt gesehen und "
        "übliches Sendeintervall.",
        overrides=[
            unit_override("Time", "dateTimeFromNow"),
            unit_override("typical_interval", "s"),
            unit_override("rssi", UPLINK_UNITS["rssi"]),
            unit_override("snr", UPLINK_UNITS["snr"]),
        ],
        transformations=[
            {"id": "joinByField", "options": {"byField": "device", "mode": "outer"}},
            {"id": "sortBy", "options": {"sort": [{"field": "Time 1"}]}},
            {"id": "organize", "options": {"excludeByName": {"Time 2": True}}},
        ],
        options=TABLE,
        w=24,
        h=10,
    )
    b.row("Decoding — Dekodierung")
    b.add(
        "timeseries",
        "Decode errors by model",
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
        desc="Uplinks whose payload could not be decoded. DE: Dekodierfehler je Gerätemodell.",
        custom=timeseries(bars=True, stack=True),
        options=LEGEND_SUM,
    )
    b.add(
        "table",
        "Uplinks by model and decode status",
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
        desc="decoded | lns_decoded | lns_normalized | error | codec_error | no_decoder | no_payload. DE: Status je Modell.",
        options=TABLE,
    )
    b.row("Radio — Funk")
    _radio(b, "rssi", "RSSI per device", desc="Mean RSSI of the best gateway. DE: Empfangspegel.")
    _radio(b, "snr", "SNR per device", desc="Mean SNR. DE: Signal-Rausch-Abstand.")
    b.add(
        "histogram",
        "RSSI distribution",
        [target("A", select('"rssi"', UPLINK, None, every=None), alias="RSSI")],
        desc="All uplinks in the range. DE: Verteilung des Empfangspegels.",
        unit=UPLINK_UNITS["rssi"],
        options={"bucketSize": 5, "combine": True, "legend": {"showLegend": False}},
        w=8,
    )
    b.add(
        "piechart",
        "Spreading factor",
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
        desc="Uplinks per spreading factor; high SF = long airtime. DE: Spreizfaktoren.",
        options={
            "pieType": "donut",
            "legend": {
                "displayMode": "table",
                "placement": "right",
                "values": ["value", "percent"],
            },
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
        w=8,
    )
    b.add(
        "timeseries",
        "Gateways per uplink",
        [
            target(
                "A",
                select('mean("gateway_count")', UPLINK, None, "device"),
                alias="$tag_device",
            )
        ],
        desc="Gateways that received each uplink; 1 = no redundancy. DE: Gateways je Uplink.",
        custom=timeseries(),
        options=LEGEND,
        decimals=1,
        w=8,
    )
    _radio(b, "airtime", "Airtime per device", agg="sum", desc="Sum of airtime. DE: Sendezeit.")
    _radio(b, "snr", "Worst SNR per device", agg="min", desc="Minimum SNR. DE: Schlechtester SNR.")
    b.row("Batteries — Batterien")
    batteries: list[tuple[Q, Json | None]] = [(Q.BATTERY, LOW_BAD), (Q.BATTERY_VOLTAGE, None)]
    for q, level in batteries:
        b.add(
            "bargauge",
            f"{q.value.replace('_', ' ').capitalize()} per device",
            [
                target(
                    "A",
                    select('last("value")', q, None, "device", every=None),
                    alias="$tag_device",
                )
            ],
            desc=description(q, "Last report per device."),
            unit=unit_of(q),
            options=BARGAUGE,
            th=level,
            minimum=0,
            maximum=100 if q is Q.BATTERY else None,
        )
    b.add(
        "timeseries",
        "Battery level over time",
        [target("A", select('mean("value")', Q.BATTERY, None, "device"), alias="$tag_device")],
        desc=description(Q.BATTERY),
        unit=unit_of(Q.BATTERY),
        custom=timeseries(),
        options=LEGEND,
        th=LOW_BAD,
        minimum=0,
        maximum=100,
        w=24,
    )
    b.row("Frame counter — Frame-Zähler")
    b.add(
        "timeseries",
        "Missed frames per hour",
        [
            target(
                "A",
                frame_loss(MISSED, "device", every="1h"),
                alias="$tag_device",
            )
        ],
        desc="Frames missing between two received uplinks, from the stored frame counters "
        "(a counter reset is not a loss). DE: Fehlende Frames.",
        custom=timeseries(bars=True, stack=True),
        options=LEGEND_SUM,
        interval="1h",
    )
    b.add(
        "table",
        "Frame loss per device",
        [
            target(
                "A",
                select('count("f_cnt") AS "received"', UPLINK, None, "device", every=None),
                fmt="table",
            ),
            target(
                "B",
                frame_loss(f'{MISSED} AS "missed", {LOSS} AS "loss"', "device"),
                fmt="table",
            ),
        ],
        desc="Received and missed frames in the range (missed: frame-counter gaps between "
        "stored uplinks). DE: Empfangene und fehlende Frames.",
        overrides=[unit_override("loss", "percent")],
        transformations=[
            {"id": "joinByField", "options": {"byField": "device", "mode": "outer"}},
            {"id": "organize", "options": {"excludeByName": {"Time 1": True, "Time 2": True}}},
        ],
        options={**TABLE, "sortBy": [{"desc": True, "displayName": "loss"}]},
    )
    return b.json()
