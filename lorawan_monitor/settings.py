"""Settings: environment variables (``LORAWAN_`` prefix, ``__`` for nesting), an optional
YAML config file (``LORAWAN_CONFIG_FILE``), and secrets from files (``/run/secrets``).

Built once per process by :func:`load_settings` (never at import); every part of the
service takes the object it needs as an argument. Validation errors become one
``ConfigError`` whose message names each bad setting as its environment variable.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lorawan_monitor.errors import ConfigError

EnvelopeKind = Literal["tts", "chirpstack", "chirpstack-v3", "auto"]

#: default topic filters per network server kind
DEFAULT_TOPICS: dict[str, list[str]] = {
    # up + join + the events we recognise; up/normalized is parsed and ignored (no double count)
    "tts": [
        "v3/+/devices/+/up",
        "v3/+/devices/+/join",
        "v3/+/devices/+/service/data",
        "v3/+/devices/+/location/solved",
    ],
    "chirpstack": ["application/+/device/+/event/+"],
    "chirpstack-v3": ["application/+/device/+/event/+", "application/+/device/+/rx"],
    "auto": [
        "v3/+/devices/+/up",
        "v3/+/devices/+/join",
        "application/+/device/+/event/+",
        "application/+/device/+/rx",
    ],
}


class MqttSettings(BaseModel):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    transport: Literal["tcp", "websockets"] = "tcp"
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_insecure: bool = False
    username: str | None = None
    password: SecretStr | None = None
    #: client id; must be stable for a persistent session and unique per worker
    #: (default: ``lorawan-monitor-<hostname>``)
    client_id: str | None = None
    #: MQTT protocol: ``auto`` = 3.1.1 for The Things Stack (its server speaks only 3.1.1), else 5
    protocol: Literal["auto", "3.1.1", "5"] = "auto"
    keepalive: int = Field(60, ge=5, le=3600)
    #: which network server publishes on this broker (``auto`` tells them apart by topic)
    envelope: EnvelopeKind = "auto"
    #: topic filters; empty = the defaults for ``envelope``
    topics: list[str] = Field(default_factory=list)
    #: MQTT 5 shared subscription group: several workers split one stream (``$share/<group>/…``)
    share_group: str | None = None
    qos: int = Field(1, ge=0, le=2)
    #: keep the broker session across restarts (MQTT 5 session expiry, seconds; 0 = clean)
    session_expiry: int = Field(3600, ge=0)
    reconnect_min_delay: float = Field(1.0, gt=0)
    reconnect_max_delay: float = Field(60.0, gt=0)

    @field_validator("share_group")
    @classmethod
    def _share(cls, v: str | None) -> str | None:
        if v is not None and (not v or any(c in v for c in "/+#")):
            raise ValueError("must be a non-empty name without '/', '+' or '#'")
        return v

    def protocol_version(self) -> int:
        if self.protocol == "auto":
            return 4 if self.envelope == "tts" else 5
        return 5 if self.protocol == "5" else 4

    def topic_filters(self) -> list[str]:
        topics = self.topics or DEFAULT_TOPICS[self.envelope]
        if self.share_group:
            return [f"$share/{self.share_group}/{t}" for t in topics]
        return list(topics)


class InfluxSettings(BaseModel):
    #: base URL of InfluxDB (``http://localhost:8086``); empty = use the embedded SQLite store
    url: str | None = None
    #: which write/query API to speak: v1 (1.x, and 2.x/3.x compatibility), v2, v3
    api: Literal["v1", "v2", "v3"] = "v1"
    database: str = "lorawan"
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    org: str | None = None
    bucket: str | None = None
    timeout: float = Field(10.0, gt=0)
    batch_size: int = Field(5000, ge=1, le=100000)
    flush_interval: float = Field(0.5, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        assert v is not None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _v2(self) -> InfluxSettings:
        if self.url and self.api == "v2" and not (self.org and self.bucket):
            raise ValueError(
                "api=v2 needs org and bucket (LORAWAN_INFLUX__ORG, LORAWAN_INFLUX__BUCKET)"
            )
        return self


class StorageSettings(BaseModel):
    data_dir: Path = Path("data")
    #: registry database URL; default sqlite in data_dir. ``postgresql+psycopg://…`` for shared use
    registry_url: str | None = None
    #: durable buffer of points not yet confirmed by the time-series store
    buffer_max_points: int = Field(5_000_000, ge=1000)
    buffer_full_policy: Literal["drop_oldest", "reject_new"] = "drop_oldest"
    #: SQLite durability of the buffer: NORMAL survives a crash of the process (kill -9),
    #: FULL also a power loss, at a cost per commit
    buffer_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    #: raw uplinks kept per device in the journal
    journal_per_device: int = Field(100, ge=0, le=100000)

    def registry_dsn(self) -> str:
        return self.registry_url or f"sqlite:///{self.data_dir / 'registry.db'}"


class IngestSettings(BaseModel):
    #: YAML or CSV file of devices (dev_eui, model, tags ...)
    devices_file: Path | None = None
    #: folder of JavaScript codecs (TTS / ChirpStack style) and their mapping file
    codecs_dir: Path | None = None
    #: drop TTS uplinks marked ``simulated`` (sent from the Console)
    drop_simulated: bool = False
    #: site tag for devices without one
    default_site: str = ""
    #: Prometheus /metrics of a stand-alone ``ingest`` process (0 = off; ``run`` and the
    #: API serve /metrics themselves)
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # -- hostile and broken input (#11): limits, each rejection has a reason -------------
    #: seconds an uplink time may lie after its arrival here (gateway clocks drift)
    max_future_skew_s: float = Field(600.0, ge=0, le=86400 * 366)
    #: uplink times before this are implausible (LoRaWAN networks we read start 2015)
    earliest_time: datetime = datetime(2015, 1, 1, tzinfo=UTC)
    #: largest MQTT message accepted (bytes); larger ones are rejected ``too_large``
    max_message_bytes: int = Field(262_144, ge=1024)
    #: deepest JSON nesting of a network server's decoded object (``object``,
    #: ``decoded_payload``); orjson writes at most 254 levels
    max_decoded_depth: int = Field(32, ge=1, le=200)
    #: most values (keys + list items) in a decoded object
    max_decoded_items: int = Field(2000, ge=1)
    #: dead letters kept in bytes (payloads + messages); the oldest go first
    dead_letter_max_bytes: int = Field(64 * 1024 * 1024, ge=65536)
    #: a dead letter keeps at most this much of its payload (the original size is kept)
    dead_letter_payload_bytes: int = Field(16_384, ge=256)
    #: TTS applications refill learns from stored uplinks, at most (unused when
    #: LORAWAN_TTS__APPLICATIONS names them)
    max_refill_applications: int = Field(50, ge=0, le=10000)

    @field_validator("earliest_time")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    #: ``public``: read endpoints need no key; ``key``: every endpoint needs one
    read_access: Literal["public", "key"] = "public"
    #: API keys (plain; hashed at start). Prefer a secrets file.
    api_keys: list[SecretStr] = Field(default_factory=list)
    #: largest request body accepted (bytes); larger ones get 413
    max_body_bytes: int = Field(6_000_000, ge=1024)


class TtsSettings(BaseModel):
    """The Things Stack Storage Integration, for refilling gaps after outages."""

    api_url: str | None = None  # e.g. https://eu1.cloud.thethings.network/api/v3
    api_key: SecretStr | None = None
    #: application ids to refill; empty = those with stored uplinks (see MAX_REFILL_APPLICATIONS)
    applications: list[str] = Field(default_factory=list)
    #: tenant id as it appears in MQTT topics (``ttn`` on The Things Network; empty on Open Source)
    tenant: str = "ttn"
    #: how far back a refill may reach (the Storage Integration keeps 30 days on TTS Cloud)
    max_age_hours: float = Field(24.0, gt=0)
    page_size: int = Field(1000, ge=1, le=10000)

    @property
    def enabled(self) -> bool:
        return bool(self.api_url and self.api_key)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LORAWAN_",
        env_nested_delimiter="__",
        secrets_dir="/run/secrets" if Path("/run/secrets").is_dir() else None,
        extra="forbid",
    )

    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    storage: StorageSettings = StorageSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    tts: TtsSettings = TtsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, file_secret_settings, _YamlFile(settings_cls))

    @model_validator(mode="after")
    def _production(self) -> Settings:
        if self.environment == "production":
            for name, secret in (
                ("LORAWAN_INFLUX__PASSWORD", self.influx.password),
                ("LORAWAN_INFLUX__TOKEN", self.influx.token),
                ("LORAWAN_MQTT__PASSWORD", self.mqtt.password),
            ):
                if secret is not None and secret.get_secret_value() in (
                    "changethis",
                    "changeme",
                    "",
                ):
                    raise ValueError(f"{name} is a placeholder; set a real secret in production")
        return self


class _YamlFile(PydanticBaseSettingsSource):
    """Optional YAML file named by ``LORAWAN_CONFIG_FILE`` (lowest precedence)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("LORAWAN_CONFIG_FILE")
        if not path:
            return {}
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"LORAWAN_CONFIG_FILE: no such file {path!r}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"LORAWAN_CONFIG_FILE {path!r}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"LORAWAN_CONFIG_FILE {path!r}: must hold a mapping of settings")
        return data


def _env_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return "LORAWAN_" + "__".join(p.upper() for p in parts) if parts else "settings"


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings; raise ConfigError naming every bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = _env_name(tuple(err["loc"]))
            value = err.get("input")
            shown = (
                ""
                if isinstance(value, dict) or "PASSWORD" in name or "TOKEN" in name
                else f" (got {value!r})"
            )
            lines.append(f"{name}: {err['msg']}{shown}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from exc
