"""API models: ``*Public`` responses, request bodies. Pydantic only here, at the boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from storage.registry_base import DEFAULT_INTERVAL_S

TrafficLight = Literal["ok", "decode_error", "no_decoder", "overdue", "never_seen"]
IntervalSourcePublic = Literal["configured", "learned", "default"]
DecodeStatusPublic = Literal[
    "decoded", "lns_decoded", "lns_normalized", "error", "codec_error", "no_decoder", "no_payload"
]

_EUI = "70B3D57ED0001234"
_T = "2025-05-01T10:15:00Z"


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class ParameterErrorPublic(_Public):
    parameter: str
    location: str
    message: str


class ErrorPublic(_Public):
    detail: str = Field(examples=["unknown device '70B3D57ED0001234'"])
    errors: list[ParameterErrorPublic] = []


# --- health -----------------------------------------------------------------------------


class LivePublic(_Public):
    status: Literal["alive"] = "alive"
    uptime_s: float


class SourceStatePublic(_Public):
    """One source of a multi-source ingest (LORAWAN_SOURCES)."""

    name: str = Field(examples=["umwelt"])
    up: bool
    reason: str | None = Field(None, description="why it is down, naming the setting to check")


class ReadyPublic(_Public):
    ready: bool
    reasons: list[str] = Field(examples=[["not connected to the MQTT broker"]])
    mqtt_enabled: bool
    mqtt_connected: bool
    store_reachable: bool
    buffer_depth: int
    buffer_limit: int
    buffer_oldest_age_s: float = Field(0.0, description="age of the oldest point not yet written")
    points_dropped: int = Field(
        0, description="points dropped by the full-buffer policy since start"
    )
    sources: list[SourceStatePublic] = Field(
        default_factory=list, description="each source's connection (empty: one broker)"
    )
    registry_pending: int = Field(
        0, description="registry updates buffered durably, not yet applied (#20)"
    )
    registry_ok: bool = Field(True, description="false while the registry does not answer")


# --- devices ----------------------------------------------------------------------------


class ReadingValuePublic(_Public):
    quantity: str = Field(examples=["temperature"])
    sensor: str = Field("", examples=[""])
    value: float = Field(examples=[21.4])
    unit: str = Field(examples=["°C"])


class SignalQualityPublic(_Public):
    """Reception verdict from the best gateway's SNR against the spreading factor's
    demodulation limit (Semtech SX1276 datasheet table 13) and the RSSI."""

    verdict: Literal["good", "fair", "poor"]
    snr_floor_db: float | None = Field(None, description="the SF's demodulation SNR limit")
    snr_margin_db: float | None = Field(None, description="SNR minus that limit")


class BatteryLevelPublic(_Public):
    """Battery verdict: percent by one rule, volts only with the vendor's levels."""

    verdict: Literal["good", "low", "critical"]
    value: float
    unit: Literal["%", "V"]
    low: float = Field(description="at or below: low")
    critical: float = Field(description="at or below: critical")
    source: str = Field(description="where the levels come from")


class DevicePublic(_Public):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "key": _EUI,
                    "dev_eui": _EUI,
                    "device_id": "lht65-townhall",
                    "application": "city-sensors",
                    "source": "tts",
                    "source_name": "tts-umwelt",
                    "name": "Town hall roof",
                    "category": "environment",
                    "site": "town-hall",
                    "model_id": "dragino/lht65",
                    "status": "decode_error",
                    "decode_status": "error",
                    "decode_error": "dragino/lht65: expected 11 bytes, got 7",
                    "last_seen": _T,
                    "last_seen_age_s": 42.0,
                    "uplink_count": 318,
                    "fcnt_missed": 3,
                    "fcnt_missed_percent": 0.94,
                    "rssi": -97.0,
                    "snr": 7.5,
                    "spreading_factor": 7,
                    "gateway_count": 2,
                    "battery_voltage": 3.05,
                    "last_readings": [
                        {"quantity": "temperature", "sensor": "", "value": 21.4, "unit": "°C"}
                    ],
                }
            ]
        },
    )

    key: str
    dev_eui: str | None = None
    device_id: str
    application: str
    source: str
    source_name: str | None = Field(
        None,
        description="name of the source (LORAWAN_SOURCES) the latest uplink came through; "
        "null for the one LORAWAN_MQTT__* broker (``source`` is the network server kind)",
    )
    name: str | None = None
    device_name: str | None = Field(
        None, description="the network server's name for the device (ChirpStack deviceName)"
    )
    category: str | None = None
    site: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    model_id: str | None = None
    model_override: str | None = None
    expected_interval_s: int | None = Field(None, description="configured interval, seconds")
    learned_interval_s: int | None = Field(
        None, description="interval learned from the device's own uplinks (median gap)"
    )
    interval_s: int = Field(
        DEFAULT_INTERVAL_S,
        description="the interval 'overdue' is judged by: configured, learned, default",
    )
    interval_source: IntervalSourcePublic = "default"
    public: bool | None = None
    notes: str | None = None
    tags: dict[str, str] = {}
    #: traffic light for installers
    status: TrafficLight
    decode_status: DecodeStatusPublic | None = None
    decode_error: str | None = None
    decoder: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    last_seen_age_s: float | None = None
    overdue: bool = False
    uplink_count: int = 0
    last_f_cnt: int | None = None
    fcnt_missed: int = 0
    fcnt_missed_percent: float = 0.0
    fcnt_resets: int = 0
    battery: float | None = Field(None, description="percent")
    battery_voltage: float | None = Field(None, description="volts")
    rssi: float | None = Field(None, description="best gateway, dBm")
    snr: float | None = Field(None, description="best gateway, dB")
    spreading_factor: int | None = None
    gateway_count: int | None = None
    signal_quality: SignalQualityPublic | None = None
    battery_level: BatteryLevelPublic | None = None
    last_readings: list[ReadingValuePublic] = []
    last_readings_at: datetime | None = Field(None, description="when they were received")
    last_readings_age_s: float | None = None


class DevicesPublic(_Public):
    data: list[DevicePublic]
    count: int = Field(description="devices in this page")
    total: int = Field(description="devices matching the filters")
    offset: int
    limit: int


class GatewayPublic(_Public):
    gateway_id: str
    rssi: float | None = None
    snr: float | None = None


class UplinkPublic(_Public):
    received_at: datetime
    uplink_id: str
    f_port: int
    f_cnt: int
    #: frames missed between the previous journal entry and this one (None for the oldest)
    fcnt_gap: int | None = None
    payload_hex: str = Field(examples=["cbf60b0d0376010adc7fff"])
    payload_size: int
    status: DecodeStatusPublic
    model_id: str | None = None
    error: str | None = None
    decoded: dict[str, Any] | None = None
    gateways: list[GatewayPublic] = []


class UplinksPublic(_Public):
    device: str
    data: list[UplinkPublic]
    count: int


# Tags become InfluxDB tags on every point of the device: bounded in number and length,
# keys an identifier, values without control characters or a trailing backslash (#11)
MAX_TAGS = 20
_TAG_VALUE = r"^(?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\\])?$"
_TAG_KEY = r"^[^\W\d_][\w.-]{0,63}$"  # "über" too
TagKey = Annotated[str, StringConstraints(pattern=_TAG_KEY)]
TagValue = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_TAG_VALUE)]
RESERVED_TAGS = frozenset(
    {
        "device",
        "dev_eui",
        "application",
        "model",
        "category",
        "site",
        "sensor",
        "decode_status",
        "time",
    }
)


Tags = Annotated[
    dict[TagKey, TagValue],
    Field(max_length=MAX_TAGS),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_TAGS,
            "propertyNames": {"pattern": _TAG_KEY, "not": {"enum": sorted(RESERVED_TAGS)}},
            "additionalProperties": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "pattern": _TAG_VALUE,
            },
        }
    ),
]


class DeviceMetaUpdate(BaseModel):
    """Fields to set; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Town hall roof",
                    "category": "environment",
                    "site": "town-hall",
                    "latitude": 47.3769,
                    "longitude": 8.5417,
                    "expected_interval_s": 1200,
                }
            ]
        },
    )

    name: str | None = Field(None, max_length=200)
    category: Literal["environment", "tourism", "traffic"] | None = None
    site: str | None = Field(None, max_length=200, pattern=_TAG_VALUE)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    model_override: str | None = Field(
        None, max_length=200, pattern=r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$"
    )
    expected_interval_s: int | None = Field(None, ge=1, le=31 * 86400)
    public: bool | None = None
    notes: str | None = Field(None, max_length=5000)
    tags: Tags | None = Field(None, description=f"at most {MAX_TAGS} user tags")

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        bad = sorted(set(v or ()) & RESERVED_TAGS)
        if bad:
            raise ValueError(f"tag keys {bad} are reserved (set by ingest, or InfluxDB's own)")
        return v


class ImportRequest(BaseModel):
    """A devices file (the format of ``LORAWAN_INGEST__DEVICES_FILE``) as text."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "format": "yaml",
                    "content": "devices:\n  - dev_eui: 70B3D57ED0001234\n"
                    "    model: dragino/lht65\n    name: Town hall roof\n",
                }
            ]
        },
    )

    format: Literal["yaml", "csv"]
    content: str = Field(max_length=5_000_000)


class ImportResultPublic(_Public):
    imported: int
    created: int
    updated: int
    devices: list[str]


# --- readings ---------------------------------------------------------------------------


class PointPublic(_Public):
    time: datetime
    value: float | None


class SeriesPublic(_Public):
    quantity: str
    sensor: str = ""
    unit: str
    tags: dict[str, str] = {}
    points: list[PointPublic]


class ReadingsPublic(_Public):
    device: str
    quantity: str
    unit: str
    start: datetime
    end: datetime
    interval_s: int | None = None
    aggregate: str | None = None
    data: list[SeriesPublic]
    count: int = Field(description="points over all series")


class LatestPublic(_Public):
    device: str
    name: str | None = None
    dev_eui: str | None = None
    time: datetime | None = Field(None, description="when these values were received")
    readings: list[ReadingValuePublic]


class LatestListPublic(_Public):
    data: list[LatestPublic]
    count: int
    total: int
    offset: int
    limit: int


class QuantityPublic(_Public):
    name: str = Field(examples=["temperature"])
    unit: str = Field(examples=["°C"])
    senml_unit: str = Field(examples=["Cel"])
    senml_scale: float = 1.0
    min: float | None = Field(None, description="lowest valid value (none = unbounded)")
    max: float | None = Field(None, description="highest valid value (none = unbounded)")
    kind: str = Field(examples=["measurement"])
    label_en: str
    label_de: str
    grafana_unit: str


class QuantitiesPublic(_Public):
    data: list[QuantityPublic]
    count: int


# --- decode tool ------------------------------------------------------------------------


class DecodeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"model": "example/thermometer", "f_port": 1, "hex": "08 66 0b c4"}]
        },
    )

    model: str = Field(max_length=200, description="TTN Device Repository id, brand/model")
    f_port: int = Field(ge=0, le=255)
    hex: str = Field(
        max_length=1024,
        pattern=r"^\s*(?:0[xX])?(?:[0-9a-fA-F]{2}[\s:-]*)*$",
        description="payload as hex, two digits per byte; spaces, ':', '-' and 0x allowed",
    )
    variables: dict[str, Any] | None = Field(None, description="decoder options (calibration…)")


class DecodeResultPublic(_Public):
    ok: bool
    model: str
    f_port: int
    payload_hex: str
    decoded: dict[str, Any] | None = None
    readings: list[ReadingValuePublic] = []
    warnings: list[str] = []
    error: str | None = Field(None, examples=["expected 11 bytes, got 7"])
    error_type: str | None = Field(None, examples=["payload_length"])
    closest_models: list[str] = []
