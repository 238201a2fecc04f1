"""SenML (RFC 8428) packs: ``generic/senml-cbor`` and ``generic/senml-json``.

decode() parses the pack and returns the *resolved* records (RFC 8428 §4.6): base
name, base time, base unit, base value and base sum applied, base fields removed:

    {"records": [{"n": "urn:dev:ow:10e2073a01080063:temp", "u": "Cel", "v": 23.1, "t": ...}]}

CBOR uses the integer labels of RFC 8428 §6 (bver -1, bn -2, bt -3, bu -4, bv -5,
bs -6, n 0, u 1, v 2, vs 3, vb 4, s 5, t 6, ut 7, vd 8); JSON the names. ``vd``
(data value) is returned as base64url text, as JSON SenML carries it. Relative times
(< 2**28, RFC 8428 §4.5.3) are kept as given: decoders have no clock.

Strict where the RFC says MUST: a pack is an array of maps, labels ending in ``_``
must be understood (we understand none), a version above 10 is refused, resolved
names must match ``[A-Za-z0-9][-:./_A-Za-z0-9]*``, numbers must be finite.

normalize() maps each record with a numeric value to a quantity through the catalogue's
SenML unit codes (``senml_unit``/``senml_scale``), converting a few neighbouring units
(Pa -> hPa, K -> Cel, mV -> V, ppb -> ppm, ...). Where a unit fits several quantities
(``ppm``: CO2 or TVOC; ``m``: distance or water level) the last segment of the record
name decides (``...:tvoc``), else a per-unit default. Unknown units give a warning.
``sensor`` is the name's last segment when a quantity occurs more than once at one time.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import cbor2

from decoders.base import Decoder, Normalized, Reading
from decoders.catalog import register
from decoders.common_keys import COMMON_KEYS, canonical_key
from decoders.errors import DecodeError, ProtocolVersionError, UnsupportedPortError
from decoders.quantities import CATALOGUE, Quantity

Q = Quantity

CBOR_LABELS: dict[int, str] = {
    -1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", -6: "bs",
    0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd",
}  # fmt: skip
NUMBER_FIELDS = {"bver", "bt", "bv", "bs", "v", "s", "t", "ut"}
STRING_FIELDS = {"bn", "bu", "n", "u", "vs"}
NAME_RE = re.compile(r"^[A-Za-z0-9][-:./_A-Za-z0-9]*$")
MAX_RECORDS = 256
RELATIVE_TIME_LIMIT = 2**28

#: other SenML codes -> (catalogue code, factor, offset)
CONVERT: dict[str, tuple[str, float, float]] = {
    "Pa": ("hPa", 0.01, 0.0),
    "kPa": ("hPa", 10.0, 0.0),
    "K": ("Cel", 1.0, -273.15),
    "mV": ("V", 0.001, 0.0),
    "ppb": ("ppm", 0.001, 0.0),
    "EL": ("%EL", 100.0, 0.0),
    "cm": ("m", 0.01, 0.0),
    "km/h": ("m/s", 1 / 3.6, 0.0),
    "/": ("/", 1.0, 0.0),
}
#: unit code -> quantity when the record name does not say
DEFAULT_FOR_UNIT: dict[str, Quantity] = {
    "Cel": Q.TEMPERATURE,
    "%RH": Q.RELATIVE_HUMIDITY,
    "ppm": Q.CO2,
    "hPa": Q.ATMOSPHERIC_PRESSURE,
    "lx": Q.ILLUMINANCE,
    "%EL": Q.BATTERY,
    "m/s": Q.WIND_SPEED,
    "W/m2": Q.SOLAR_RADIATION,
    "dB": Q.SOUND_LEVEL,
    "mm/h": Q.PRECIPITATION_INTENSITY,
    "lat": Q.LATITUDE,
    "lon": Q.LONGITUDE,
}
#: name segment -> quantities it may mean (beyond decoders.common_keys)
NAME_HINTS: dict[str, frozenset[Quantity]] = {
    "battery": frozenset({Q.BATTERY, Q.BATTERY_VOLTAGE}),
    "bat": frozenset({Q.BATTERY, Q.BATTERY_VOLTAGE}),
    "batt": frozenset({Q.BATTERY, Q.BATTERY_VOLTAGE}),
    "vbat": frozenset({Q.BATTERY_VOLTAGE}),
    "distance": frozenset({Q.DISTANCE}),
    "level": frozenset({Q.WATER_LEVEL}),
    "waterlevel": frozenset({Q.WATER_LEVEL}),
    "gust": frozenset({Q.WIND_GUST}),
    "direction": frozenset({Q.WIND_DIRECTION}),
    "tilt": frozenset({Q.TILT}),
    "noise": frozenset({Q.SOUND_LEVEL}),
    "people": frozenset({Q.PEOPLE_COUNT}),
    "vaporpressure": frozenset({Q.VAPOR_PRESSURE}),
    "altitude": frozenset({Q.ALTITUDE}),
}


def _fail(index: int, what: str) -> DecodeError:
    return DecodeError(f"SenML record {index}: {what}")


def _check_number(index: int, label: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(index, f"{label} must be a number, got {type(value).__name__}")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise _fail(index, f"{label} is not a finite number")
    return value


def resolve(pack: Any) -> list[dict[str, Any]]:
    """Resolve a parsed pack (records with text labels) per RFC 8428 §4.6."""
    if not isinstance(pack, list):
        raise DecodeError(f"SenML pack must be an array of records, got {type(pack).__name__}")
    if len(pack) > MAX_RECORDS:
        raise DecodeError(f"SenML pack has {len(pack)} records, more than {MAX_RECORDS}")
    base: dict[str, Any] = {"bn": "", "bt": 0, "bu": None, "bv": 0, "bs": 0}
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(pack):
        if not isinstance(rec, dict):
            raise _fail(i, f"must be a map, got {type(rec).__name__}")
        for label, value in rec.items():
            if isinstance(label, str) and label.endswith("_"):
                raise _fail(i, f"must-understand label {label!r} is not supported")
            if label in NUMBER_FIELDS:
                _check_number(i, label, value)
            elif label in STRING_FIELDS and not isinstance(value, str):
                raise _fail(i, f"{label} must be text, got {type(value).__name__}")
        if "bver" in rec:
            if isinstance(rec["bver"], float) or rec["bver"] > 10:
                raise ProtocolVersionError(
                    f"SenML version {rec['bver']} is newer than RFC 8428 (10)"
                )
        for key in ("bn", "bt", "bu", "bv", "bs"):
            if key in rec:
                base[key] = rec[key]
        name = base["bn"] + rec.get("n", "")
        if not NAME_RE.match(name):
            raise _fail(i, f"name {name!r} is empty or has characters SenML forbids")
        res: dict[str, Any] = {"n": name}
        unit = rec.get("u", base["bu"])
        if unit is not None:
            res["u"] = unit
        if "v" in rec:
            res["v"] = base["bv"] + rec["v"]
        if "vs" in rec:
            res["vs"] = rec["vs"]
        if "vb" in rec:
            if not isinstance(rec["vb"], bool):
                raise _fail(i, "vb must be true or false")
            res["vb"] = rec["vb"]
        if "vd" in rec:
            res["vd"] = rec["vd"]
        if "s" in rec:
            res["s"] = base["bs"] + rec["s"]
        if "t" in rec or base["bt"]:
            res["t"] = base["bt"] + rec.get("t", 0)
        if "ut" in rec:
            res["ut"] = rec["ut"]
        out.append(res)
    return out


def parse_cbor(payload: bytes) -> Any:
    fp = io.BytesIO(payload)
    try:
        obj = cbor2.CBORDecoder(fp).decode()
    except Exception as exc:  # cbor2 raises several types (CBORDecodeError, ValueError, ...)
        raise DecodeError(f"SenML CBOR: not valid CBOR ({exc})") from exc
    if fp.tell() != len(payload):
        raise DecodeError(f"SenML CBOR: {len(payload) - fp.tell()} bytes after the pack")
    if not isinstance(obj, list):
        raise DecodeError(f"SenML pack must be an array of records, got {type(obj).__name__}")
    pack: list[Any] = []
    for i, rec in enumerate(obj):
        if not isinstance(rec, dict):
            raise _fail(i, f"must be a map, got {type(rec).__name__}")
        named: dict[str, Any] = {}
        for label, value in rec.items():
            if isinstance(label, int) and not isinstance(label, bool):
                if label in CBOR_LABELS:
                    key = CBOR_LABELS[label]
                    if key == "vd":
                        if not isinstance(value, bytes):
                            raise _fail(i, "vd must be a byte string")
                        value = base64.urlsafe_b64encode(value).rstrip(b"=").decode()
                    named[key] = value
            elif isinstance(label, str):
                if label.endswith("_"):
                    named[label] = value  # resolve() refuses it
            else:
                raise _fail(i, f"label {label!r} is neither a number nor text")
        pack.append(named)
    return pack


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in SenML JSON")


def parse_json(payload: bytes) -> Any:
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DecodeError(f"SenML JSON: not valid JSON ({exc})") from exc
    if isinstance(obj, list):
        for i, rec in enumerate(obj):
            if isinstance(rec, dict) and "vd" in rec and not isinstance(rec["vd"], str):
                raise _fail(i, "vd must be base64url text")
            if isinstance(rec, dict):
                obj[i] = {
                    k: v for k, v in rec.items() if k in CBOR_LABELS.values() or k[-1:] == "_"
                }
    return obj


def _name_hints(name: str) -> frozenset[Quantity]:
    """Quantities the last segment of a record name may mean (``...:temp`` -> temperature)."""
    last = re.split(r"[:/]", name)[-1]
    hints: set[Quantity] = set()
    for candidate in {last, last.split(".")[-1], last.split("_")[-1], last.split("-")[-1]}:
        key = canonical_key(candidate)
        hints |= NAME_HINTS.get(key, frozenset())
        common = COMMON_KEYS.get(key)
        if common is not None:
            hints.add(common[0])
    return frozenset(hints)


def quantity_for(name: str, unit: str | None) -> tuple[Quantity, float, float] | str:
    """(quantity, factor, offset) for a record, or the reason there is none."""
    if unit is None:
        return "no unit"
    code, factor, offset = CONVERT.get(unit, (unit, 1.0, 0.0))
    fits = [i for i in CATALOGUE.values() if i.senml_unit == code]
    if not fits:
        return f"unknown SenML unit {unit!r}"
    hints = _name_hints(name)
    chosen = next((i for i in fits if i.name in hints), None)
    if chosen is None and len(fits) == 1 and code not in ("V", "count", "/"):
        chosen = fits[0]
    if chosen is None and code in DEFAULT_FOR_UNIT:
        chosen = CATALOGUE[DEFAULT_FOR_UNIT[code]]
    if chosen is None:
        return f"unit {unit!r} alone does not say which quantity, and the name does not either"
    # value in SenML unit -> catalogue unit: divide by senml_scale
    return chosen.name, factor / chosen.senml_scale, offset / chosen.senml_scale


def normalize_senml(decoded: Mapping[str, Any]) -> Normalized:
    records = decoded.get("records")
    if not isinstance(records, list):
        return Normalized(warnings=("no SenML 'records' list",))
    readings: list[Reading] = []
    warnings: list[str] = []
    for rec in records:
        if not isinstance(rec, Mapping):
            warnings.append("SenML record is not an object")
            continue
        name = str(rec.get("n", ""))
        value = rec.get("v")
        if isinstance(value, bool) or not isinstance(value, int | float):
            warnings.append(f"{name}: no numeric value")
            continue
        unit = rec.get("u")
        found = quantity_for(name, unit if isinstance(unit, str) else None)
        if isinstance(found, str):
            warnings.append(f"{name}: {found}")
            continue
        quantity, factor, offset = found
        try:
            num = float(value) * factor + offset
        except OverflowError:
            num = math.inf
        if not math.isfinite(num):
            warnings.append(f"{name}: not a finite number")
            continue
        when = None
        t = rec.get("t")
        if isinstance(t, int | float) and not isinstance(t, bool) and t != 0:
            if abs(t) < RELATIVE_TIME_LIMIT:
                warnings.append(f"{name}: relative time {t} s ignored (uplink time used)")
            else:
                try:
                    when = datetime.fromtimestamp(float(t), UTC)
                except (OverflowError, OSError, ValueError):
                    warnings.append(f"{name}: time {t} out of range")
        readings.append(Reading(quantity=quantity, value=num, sensor=name, time=when))
    counts = Counter((r.quantity, r.time) for r in readings)
    labelled = tuple(
        Reading(
            quantity=r.quantity,
            value=r.value,
            sensor=re.split(r"[:/]", r.sensor)[-1] if counts[r.quantity, r.time] > 1 else "",
            time=r.time,
        )
        for r in readings
    )
    return Normalized(readings=labelled, warnings=tuple(warnings))


class _SenML(Decoder):
    vendor = "Generic"
    category = "environment"
    ports = (1,)

    def parse(self, payload: bytes) -> Any:
        raise NotImplementedError

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port == 0:
            raise UnsupportedPortError("SenML: port 0 carries MAC commands, not application data")
        return {"records": resolve(self.parse(payload))}

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        return normalize_senml(decoded)


@register
class SenMLCbor(_SenML):
    model_ids = ("generic/senml-cbor",)
    model_name = "SenML (RFC 8428), CBOR"
    description = "Sensor Measurement Lists in CBOR (application/senml+cbor)"

    def parse(self, payload: bytes) -> Any:
        return parse_cbor(payload)


@register
class SenMLJson(_SenML):
    model_ids = ("generic/senml-json",)
    model_name = "SenML (RFC 8428), JSON"
    description = "Sensor Measurement Lists in JSON (application/senml+json)"

    def parse(self, payload: bytes) -> Any:
        return parse_json(payload)
