"""IMBuildings LoRaWAN People Counter (``imbuildings/imbuildings-people-counter``).

Implemented from the codec of the TTN Device Repository (``imbuildings-people-counter.yaml``
-> ``imbuildings-codec.yaml`` -> ``imbuildings.js``, "Version 1.1", whose published example
is our first vector). The codec serves all IMBuildings products; this model decodes the
People Counter frames (payload type 2). Keys are the codec's.

Frames with the IMBuildings header (any port but 26 and 27; the device sends on port 1):
``02 <variant>`` then the device id. The codec first reads a common block, kept in the
output: ``device_type_identifier`` (2), ``device_type`` ("People Counter"),
``device_type_variant``, ``device_id`` (hex of bytes 2-7), ``device_status`` (byte 8),
``battery_voltage`` (u16 bytes 9-10 / 100 V), ``rssi`` (s8 byte 11). Then by variant:

* 2 (NB-IoT, 15 bytes): ``counter_a``, ``counter_b`` (u8), ``sensor_status``
* 3 (NB-IoT, 17 bytes) and 4 (NB-IoT with a time stamp, 24 bytes): counters as u16
* 5 (LoRaWAN, 19 bytes), 6 (LoRaWAN, 23 bytes): 8-byte ``device_id``, ``device_status``
  (byte 10), ``battery_voltage`` (bytes 11-12), no ``rssi``; counters (u16),
  ``sensor_status``, variant 6 also ``total_counter_a``/``total_counter_b`` (u16),
  then ``payload_counter`` (u8)
* 7 (LoRaWAN, totals only, 15 bytes): 8-byte ``device_id``, ``sensor_status`` and the
  totals from the last 5 bytes. The codec also reads ``device_status`` and
  ``battery_voltage`` from bytes 10-12, which in this frame are the sensor status and
  the first total: kept in ``decode()`` (it is what the codec returns) but not turned
  into a battery reading (a warning says so).

Frames without the header, recognised by port: 26 = variant 6 (13 bytes), 27 = variant
7 (5 bytes), both read from the end of the frame as the codec does, and without the
common block.

Stricter than the JavaScript, which returns ``{}`` for a wrong length, variant 1 or
another product's payload type, and reads ``NaN`` or throws past the end: each of these
is a DecodeError here. Ports outside 1-223 (not application ports) are refused.

Normalization (IMBuildings: ``counter_a``/``counter_b`` count since the previous
transmission, ``total_counter_a``/``total_counter_b`` since the last reset, wrapping at
65535): direction A -> people_in, B -> people_out (mount the sensor so that A is the
way in), totals -> people_in_total / people_out_total, ``battery_voltage`` ->
battery_voltage (V).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders.base import Decoder, Field, Normalized, normalize_table
from decoders.catalog import register
from decoders.errors import PayloadLengthError, ProtocolVersionError, UnsupportedPortError
from decoders.quantities import Quantity

MODEL = "IMBuildings People Counter"
PEOPLE_COUNTER = 2
#: port -> variant of the header-less frames (``portDecodingScheme`` of the codec)
PORT_VARIANTS: dict[int, int] = {26: 6, 27: 7}
#: variant -> frame length with the header; 7 is the shortest the codec reads sensibly
HEADER_LENGTHS: dict[int, int] = {2: 15, 3: 17, 4: 24, 5: 19, 6: 23, 7: 15}
HEADERLESS_LENGTHS: dict[int, int] = {6: 13, 7: 5}
OTHER_PRODUCTS: dict[int, str] = {1: "Comfort Sensor", 3: "Button", 4: "Pulse Counter"}

Q = Quantity


def _u16(b: bytes, i: int) -> int:
    return (b[i] << 8) | b[i + 1]


def _s8(v: int) -> int:
    return v - 0x100 if v & 0x80 else v


def _variant6(b: bytes, out: dict[str, Any]) -> None:
    """The last 13 bytes of a variant 6 frame (with or without the header)."""
    n = len(b)
    out["device_status"] = b[n - 13]
    out["battery_voltage"] = _u16(b, n - 12) / 100
    out["counter_a"] = _u16(b, n - 10)
    out["counter_b"] = _u16(b, n - 8)
    out["sensor_status"] = b[n - 6]
    out["total_counter_a"] = _u16(b, n - 5)
    out["total_counter_b"] = _u16(b, n - 3)
    out["payload_counter"] = b[n - 1]


def _variant7(b: bytes, out: dict[str, Any]) -> None:
    n = len(b)
    out["sensor_status"] = b[n - 5]
    out["total_counter_a"] = _u16(b, n - 4)
    out["total_counter_b"] = _u16(b, n - 2)


def _headerless(b: bytes, f_port: int, variant: int) -> dict[str, Any]:
    need = HEADERLESS_LENGTHS[variant]
    if len(b) < need:
        raise PayloadLengthError(
            f"{MODEL} expects {need} bytes on port {f_port} "
            f"(variant {variant} without header), got {len(b)}"
        )
    out: dict[str, Any] = {}
    (_variant6 if variant == 6 else _variant7)(b, out)
    return out


def _with_header(b: bytes, f_port: int) -> dict[str, Any]:
    if len(b) < 2:
        raise PayloadLengthError(
            f"{MODEL} expects a header of payload type and variant on port {f_port}, "
            f"got {len(b)} byte{'s' if len(b) != 1 else ''}"
        )
    if b[0] != PEOPLE_COUNTER:
        other = OTHER_PRODUCTS.get(b[0])
        what = f"an IMBuildings {other} frame" if other else f"unknown payload type {b[0]}"
        raise ProtocolVersionError(
            f"{MODEL}: {what}, not a People Counter frame (type 2); check the device's model"
        )
    variant = b[1]
    if variant == 1:
        raise ProtocolVersionError(
            f"{MODEL}: variant 1 (NB-IoT) is not decoded by the vendor codec"
        )
    need = HEADER_LENGTHS.get(variant)
    if need is None:
        raise ProtocolVersionError(f"{MODEL}: unknown payload variant {variant}")
    if len(b) != need:
        raise PayloadLengthError(
            f"{MODEL} expects {need} bytes on port {f_port} (variant {variant}), got {len(b)}"
        )
    out: dict[str, Any] = {
        "device_type_identifier": b[0],
        "device_type": "People Counter",
        "device_type_variant": variant,
        "device_id": b[2:8].hex(),
        "device_status": b[8],
        "battery_voltage": _u16(b, 9) / 100,
        "rssi": _s8(b[11]),
    }
    if variant == 2:
        out.update(counter_a=b[12], counter_b=b[13], sensor_status=b[14])
    elif variant in (3, 4):
        n = len(b)
        out.update(counter_a=_u16(b, n - 5), counter_b=_u16(b, n - 3), sensor_status=b[n - 1])
    else:  # 5, 6, 7: LoRaWAN frames with an 8-byte device id and no rssi
        del out["rssi"]
        out["device_id"] = b[2:10].hex()
        if variant == 5:
            out.update(
                device_status=b[10],
                battery_voltage=_u16(b, 11) / 100,
                counter_a=_u16(b, 13),
                counter_b=_u16(b, 15),
                sensor_status=b[17],
                payload_counter=b[18],
            )
        elif variant == 6:
            _variant6(b, out)
        else:
            out.update(device_status=b[10], battery_voltage=_u16(b, 11) / 100)
            _variant7(b, out)
    return out


@register
class IMBuildingsPeopleCounter(Decoder):
    model_ids = ("imbuildings/imbuildings-people-counter",)
    vendor = "IMBuildings"
    model_name = "People Counter"
    category = "tourism"
    ports = (1, 26, 27)
    description = "Infrared people counter across a doorway: counts per direction and totals."
    fields = (
        Field(key="counter_a", quantity=Q.PEOPLE_IN),
        Field(key="counter_b", quantity=Q.PEOPLE_OUT),
        Field(key="total_counter_a", quantity=Q.PEOPLE_IN_TOTAL),
        Field(key="total_counter_b", quantity=Q.PEOPLE_OUT_TOTAL),
        Field(key="battery_voltage", quantity=Q.BATTERY_VOLTAGE),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if not 1 <= f_port <= 223:
            raise UnsupportedPortError(
                f"{MODEL}: unknown port {f_port} (application ports are 1-223; "
                "the device sends on port 1, or 26/27 without header)"
            )
        variant = PORT_VARIANTS.get(f_port)
        if variant is not None:
            return _headerless(payload, f_port, variant)
        return _with_header(payload, f_port)

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        if decoded.get("device_type_variant") == 7 and "battery_voltage" in decoded:
            rest = {k: v for k, v in decoded.items() if k != "battery_voltage"}
            n = normalize_table(rest, self.fields)
            note = (
                "battery_voltage: variant 7 frames carry no battery voltage "
                "(the vendor codec reads it from the counter bytes); not recorded"
            )
            return Normalized(readings=n.readings, warnings=(*n.warnings, note))
        return normalize_table(decoded, self.fields)
