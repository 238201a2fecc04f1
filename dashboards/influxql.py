"""InfluxQL text shared by the dashboards: template-variable filters and query shapes.

Every query is raw InfluxQL (never Flux), so the same dashboards work on InfluxDB 1.x and
on the v1 compatibility API of 2.x and 3.x. Grafana substitutes ``$timeFilter``,
``$__interval`` and the template variables (``/^$site$/`` becomes ``/^(a|b)$/``).
"""

from __future__ import annotations

from dashboards.grafana import TIMEZONE

UPLINK = "lorawan_uplink"
#: written by the alert evaluator (tags rule, severity, device, dev_eui, site)
ALERT = "lorawan_alert"
LOCATION = "device_location"

#: Grafana units of the lorawan_uplink fields (the catalogue covers the quantities)
UPLINK_UNITS: dict[str, str] = {
    "rssi": "dBm",
    "snr": "dB",
    "spreading_factor": "none",
    "frequency": "hertz",
    "gateway_count": "none",
    "f_cnt": "none",
    "f_port": "none",
    "payload_size": "bytes",
    "airtime": "s",
    "decode_ok": "none",
}
LOCATION_UNITS: dict[str, str] = {"latitude": "none", "longitude": "none", "altitude": "lengthm"}


def where(category: str | None = None, *, time: str = "$timeFilter", extra: str = "") -> str:
    """WHERE clause: time range, the three template variables, optional category and more.

    Devices are chosen by their registry name (tag ``name``, the device id when the
    registry has none), so the variable lists names people know."""
    parts = [
        time,
        '"application" =~ /^$application$/',
        '"site" =~ /^$site$/',
        '"name" =~ /^$name$/',
    ]
    if category:
        parts.append(f"\"category\" = '{category}'")
    if extra:
        parts.append(extra)
    return " AND ".join(parts)


def group(
    *tags: str, every: str | None = "$__interval", fill: str = "none", tz: bool = False
) -> str:
    """GROUP BY clause (time bucket first), with fill() and optionally tz()."""
    keys = ([f"time({every})"] if every else []) + [f'"{t}"' for t in tags]
    text = f" GROUP BY {', '.join(keys)}" if keys else ""
    if every:
        text += f" fill({fill})"
    if tz:
        text += f" tz('{TIMEZONE}')"
    return text


def select(
    expr: str,
    measurement: str,
    category: str | None = None,
    *tags: str,
    every: str | None = "$__interval",
    fill: str = "none",
    tz: bool = False,
    extra: str = "",
    time: str = "$timeFilter",
) -> str:
    return (
        f'SELECT {expr} FROM "{measurement}" WHERE {where(category, time=time, extra=extra)}'
        + group(*tags, every=every, fill=fill, tz=tz)
    )


def counter_increase(
    measurement: str, category: str | None, *tags: str, every: str, tz: bool = False
) -> str:
    """Per-bucket increase of running totals (``*_total``), summed over devices.

    ``non_negative_difference`` drops the negative step of a counter reset, so a device
    that restarts loses at most one bucket instead of producing a negative count.
    """
    inner = select(
        'non_negative_difference(last("value")) AS "increase"',
        measurement,
        category,
        "device",
        *tags,
        every=every,
        tz=tz,
    )
    return f'SELECT sum("increase") FROM ({inner}) WHERE $timeFilter' + group(
        *tags, every=every, tz=tz
    )


def fcnt_steps(category: str | None = None) -> str:
    """Each uplink's frame-counter step from the device's previous stored uplink.

    A step of 1 is a frame received after its predecessor; n > 1 means n - 1 frames were
    missed. Computed by InfluxDB from the stored ``f_cnt`` of all of a device's uplinks in
    time order (its series with different ``decode_status`` merged), so it is exact
    whichever ingest worker wrote which uplink, and a late uplink filling a gap counts
    where it belongs. A counter reset (join, reboot) is a negative step, which
    ``non_negative_difference`` drops: it is not a loss."""
    return select(
        'non_negative_difference("f_cnt") AS "step"', UPLINK, category, "device", every=None
    )


#: frames missed, from the steps of :func:`fcnt_steps`
MISSED = 'sum("step") - count("step")'
#: missed / expected, in percent (the first uplink in the range has no step)
LOSS = '(sum("step") - count("step")) / sum("step") * 100'


def frame_loss(expr: str, *tags: str, every: str | None = None) -> str:
    """``expr`` (:data:`MISSED`, :data:`LOSS`) over the frame-counter steps in the range."""
    return f"SELECT {expr} FROM ({fcnt_steps()}) WHERE $timeFilter" + group(*tags, every=every)


#: hourly per-device rollup of lorawan_uplink (``dashboards/rollup.py``)
ROLLUP = "lorawan_uplink_1h"
#: the whole hours a dashboard range touches: rollup points carry the start of their hour,
#: so the hour holding the range's start (stamped before it) belongs to the range too
HOURS = "time > ${__from}ms - 1h AND time <= ${__to}ms"
#: frames missed and loss in percent, from the rollup's sums of frame-counter steps
ROLLUP_MISSED = 'sum("steps") - sum("stepped")'
ROLLUP_LOSS = '(sum("steps") - sum("stepped")) / sum("steps") * 100'


def rollup_select(expr: str, *tags: str) -> str:
    """``expr`` over the rollup's hours of the range, filtered by the three variables."""
    return select(expr, ROLLUP, None, *tags, every=None, time=HOURS)


def rollup_missed_hours(*tags: str) -> str:
    """Missed frames per device and hour, only the hours that missed any (a few points
    per device instead of one per hour: the bars show where frames were lost)."""
    inner = select('"steps" - "stepped" AS "missed"', ROLLUP, None, *tags, every=None, time=HOURS)
    return f'SELECT "missed" FROM ({inner}) WHERE "missed" > 0' + group(*tags, every=None)
