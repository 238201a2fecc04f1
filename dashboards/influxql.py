"""InfluxQL text shared by the dashboards: template-variable filters and query shapes.

Every query is raw InfluxQL (never Flux), so the same dashboards work on InfluxDB 1.x and
on the v1 compatibility API of 2.x and 3.x. Grafana substitutes ``$timeFilter``,
``$__interval`` and the template variables (``/^$site$/`` becomes ``/^(a|b)$/``).
"""

from __future__ import annotations

from dashboards.grafana import TIMEZONE

UPLINK = "lorawan_uplink"
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
    "fcnt_gap": "none",
}
LOCATION_UNITS: dict[str, str] = {"latitude": "none", "longitude": "none", "altitude": "lengthm"}


def where(category: str | None = None, *, time: str = "$timeFilter", extra: str = "") -> str:
    """WHERE clause: time range, the three template variables, optional category and more."""
    parts = [
        time,
        '"application" =~ /^$application$/',
        '"site" =~ /^$site$/',
        '"device" =~ /^$device$/',
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
