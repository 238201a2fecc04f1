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
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
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


#: secret values that are examples, not secrets (refused in production)
_PLACEHOLDERS = frozenset({"", "changethis", "changeme", "change-me", "secret", "password"})


def _http_url(v: str | None) -> str | None:
    """An http(s) URL without a trailing slash; ``None`` or "" = not set."""
    if v is None or v == "":
        return None
    try:
        url = _HTTP_URL.validate_python(v)
    except ValidationError:
        raise ValueError("must be an http:// or https:// URL with a host") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL with a host")
    return v.rstrip("/")


_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


class BrokerSettings(BaseModel):
    """What one MQTT broker connection needs: the fields ``LORAWAN_MQTT__*`` and each
    entry of ``LORAWAN_SOURCES`` share (declared once, here)."""

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
    #: topic filters; empty = the defaults for ``envelope``
    topics: list[str] = Field(default_factory=list)
    #: MQTT 5 shared subscription group: several workers split one stream (``$share/<group>/…``)
    share_group: str | None = None
    qos: int = Field(1, ge=0, le=2)
    #: keep the broker session across restarts (MQTT 5 session expiry, seconds; 0 = clean)
    session_expiry: int = Field(3600, ge=0)

    @field_validator("share_group")
    @classmethod
    def _share(cls, v: str | None) -> str | None:
        if v is not None and (not v or any(c in v for c in "/+#")):
            raise ValueError("must be a non-empty name without '/', '+' or '#'")
        return v


class MqttSettings(BrokerSettings):
    """The broker of a single-source ingest (``LORAWAN_MQTT__*``), and the back-off and
    timeouts every source uses."""

    #: which network server publishes on this broker (``auto`` tells them apart by topic)
    envelope: EnvelopeKind = "auto"
    #: reconnect back-off, whole seconds (paho counts in seconds; no silent rounding)
    reconnect_min_delay: int = Field(1, ge=1, le=3600)
    reconnect_max_delay: int = Field(60, ge=1, le=3600)
    #: seconds for TCP + TLS set-up; a broker that sends no CONNACK within 1.5 times this
    #: is reported as an error (paho itself would wait a whole keepalive)
    connect_timeout: float = Field(5.0, gt=0, le=120)

    @model_validator(mode="after")
    def _delays(self) -> MqttSettings:
        if self.reconnect_min_delay > self.reconnect_max_delay:
            raise ValueError(
                "reconnect_min_delay must not exceed reconnect_max_delay "
                "(LORAWAN_MQTT__RECONNECT_MIN_DELAY, LORAWAN_MQTT__RECONNECT_MAX_DELAY)"
            )
        return self

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
    #: seconds between two runs of the hourly uplink rollup the dashboards' frame-loss panels
    #: read (`dashboards rollup --since 3h`), kept by `run` in a child process; 0 = off (with
    #: `ingest` alone, or docker compose, the `dashboards rollup --every 5m` service does it)
    rollup_every: int = Field(300, ge=0, le=86400)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _http_url(v)

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
    #: refuse to start when a codec of the codecs folder does not load (default: that
    #: codec is disabled, its devices get decode status codec_error)
    codecs_strict: bool = False
    #: local checkout of TheThingsNetwork/lorawan-devices used as a codec source for
    #: models without a native decoder (never shipped or downloaded)
    device_repository: Path | None = None
    #: drop TTS uplinks marked ``simulated`` (sent from the Console)
    drop_simulated: bool = False
    #: site tag for devices without one
    default_site: str = ""
    #: Prometheus /metrics of a stand-alone ``ingest`` process (0 = off; ``run`` and the
    #: API serve /metrics themselves)
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    #: seconds between one-line summaries at INFO (received, stored, ignored, rejected,
    #: buffered, written); 0 = off
    summary_interval: float = Field(300.0, ge=0)
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

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str | None) -> str | None:
        return _http_url(v)

    @property
    def enabled(self) -> bool:
        return bool(self.api_url and self.api_key)


class AlertsSettings(BaseModel):
    """Alerting (#17): rules file, channels (apprise URLs, secrets), evaluator timing."""

    #: run the evaluator in ``run``/``api`` processes (with a rules file)
    enabled: bool = True
    #: where ``run`` evaluates: ``process`` = a child process (``alerts run``) beside
    #: ingest, so that evaluation does not share ingest's interpreter (GIL); ``thread`` =
    #: a thread in the ``run`` process (``api`` and ``demo`` always use a thread)
    evaluator: Literal["process", "thread"] = "process"
    #: YAML rules file (docs/alerts.md); none = no alerts
    rules_file: Path | None = None
    #: channel name -> apprise URL, e.g. ``LORAWAN_ALERTS__CHANNELS__EMAIL=mailtos://…``
    channels: dict[str, SecretStr] = Field(default_factory=dict)
    #: seconds between evaluations
    interval: float = Field(30.0, ge=0.05, le=3600)
    #: seconds a new notification waits for others to join its message (grouping)
    group_wait: float = Field(30.0, ge=0, le=3600)
    #: retry backoff of a channel that is down: first delay, doubling up to the maximum
    retry_min: float = Field(5.0, gt=0)
    retry_max: float = Field(900.0, gt=0)
    #: the evaluator lease in the registry database (another process takes over after it)
    lease_ttl: float = Field(90.0, ge=1)
    timezone: str = "Europe/Berlin"
    language: Literal["de", "en"] = "de"

    @field_validator("channels")
    @classmethod
    def _names(cls, v: dict[str, SecretStr]) -> dict[str, SecretStr]:
        bad = [n for n in v if not n or not all(c.isalnum() or c in "_-" for c in n)]
        if bad:
            raise ValueError(f"channel names are letters, digits, '_' or '-': {bad!r}")
        return {n.lower(): u for n, u in v.items()}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"not a time zone name (e.g. Europe/Berlin, UTC): {v!r}") from None
        return v

    @model_validator(mode="after")
    def _lease(self) -> AlertsSettings:
        if self.lease_ttl <= self.interval:
            raise ValueError(
                "LORAWAN_ALERTS__LEASE_TTL must be longer than LORAWAN_ALERTS__INTERVAL "
                "(the evaluator renews its lease once per cycle)"
            )
        if self.retry_max < self.retry_min:
            raise ValueError("LORAWAN_ALERTS__RETRY_MAX must not be below RETRY_MIN")
        return self


# --- several sources (issue #16) ------------------------------------------------------


class SourceSettings(BrokerSettings):
    """One network server application / broker connection of a multi-source ingest.

    Given as the list ``sources`` in the YAML file (``LORAWAN_CONFIG_FILE``) or as JSON in
    ``LORAWAN_SOURCES``. Reconnect back-off and connect timeout come from
    ``LORAWAN_MQTT__*``; everything that differs between brokers is here."""

    model_config = ConfigDict(extra="forbid")

    #: shown in logs, metrics (``source`` label) and readiness; letters, digits, ``-_.``
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    kind: EnvelopeKind = "auto"
    #: stable and unique per source (default ``lorawan-monitor-<hostname>-<name>``)
    client_id: str | None = None
    #: The Things Stack Storage Integration of this application (gap refill)
    api_url: str | None = None
    api_key: SecretStr | None = None
    tenant: str = "ttn"
    applications: list[str] = Field(default_factory=list)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str | None) -> str | None:
        return _http_url(v)

    def mqtt(self, common: MqttSettings, client_id: str) -> MqttSettings:
        """The single-broker settings of this source: the fields both models share, the
        source's kind as the envelope, back-off and timeouts from ``common``."""
        shared = set(BrokerSettings.model_fields) - {"client_id"}
        return common.model_copy(
            update={
                **self.model_dump(include=shared),
                "client_id": client_id,
                "envelope": self.kind,
            }
        )

    def tts(self, common: TtsSettings) -> TtsSettings:
        """The Storage Integration settings of this source (age and page size from ``common``)."""
        return TtsSettings(
            api_url=self.api_url,
            api_key=self.api_key,
            applications=self.applications,
            tenant=self.tenant,
            max_age_hours=common.max_age_hours,
            page_size=common.page_size,
        )


def _filters_overlap(a: str, b: str) -> bool:
    """True when some topic matches both MQTT filters (``+`` one level, ``#`` the rest)."""
    pa, pb = a.split("/"), b.split("/")
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else None
        y = pb[i] if i < len(pb) else None
        if x == "#" or y == "#":
            return True
        if x is None or y is None:
            return False
        if x != y and "+" not in (x, y):
            return False
    return True


def check_sources(sources: list[SourceSettings]) -> None:
    """Refuse lists whose sources cannot be told apart (raises ValueError naming them).

    * names and client ids are unique (a client id shared by two connections makes the
      broker drop one of them, over and over);
    * two sources on the same broker (host and port) with the same login whose topic filters
      overlap would receive every such uplink twice, so every device would be counted
      twice: that is an error. The device key is the DevEUI (IEEE EUI-64, unique world
      wide), so the same device seen through two *different* sources is one device, by
      design (it moved, or two networks hear it)."""
    seen: dict[str, int] = {}
    for i, s in enumerate(sources):
        if s.name in seen:
            raise ValueError(
                f"LORAWAN_SOURCES[{i}].name: {s.name!r} is also the name of "
                f"LORAWAN_SOURCES[{seen[s.name]}]; source names must be unique"
            )
        seen[s.name] = i
    ids: dict[str, int] = {}
    for i, s in enumerate(sources):
        if s.client_id is None:
            continue
        if s.client_id in ids:
            raise ValueError(
                f"LORAWAN_SOURCES[{i}].client_id: {s.client_id!r} is also the client id of "
                f"source {sources[ids[s.client_id]].name!r}; each source needs its own"
            )
        ids[s.client_id] = i
    for i, a in enumerate(sources):
        for j in range(i):
            b = sources[j]
            if (a.host, a.port, a.username) != (b.host, b.port, b.username):
                continue
            for ta in a.topics or DEFAULT_TOPICS[a.kind]:
                for tb in b.topics or DEFAULT_TOPICS[b.kind]:
                    if _filters_overlap(ta, tb):
                        raise ValueError(
                            f"LORAWAN_SOURCES[{i}].topics: source {a.name!r} and source "
                            f"{b.name!r} use the same broker {a.host}:{a.port} and login, and "
                            f"their topics {ta!r} and {tb!r} overlap: every uplink there would "
                            "arrive twice. Give them disjoint topics, or make them one source"
                        )


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
    alerts: AlertsSettings = AlertsSettings()
    #: several brokers / applications in one ingest, a JSON list (usually ``sources:`` in
    #: LORAWAN_CONFIG_FILE; docs/network-servers.md); empty = the one LORAWAN_MQTT__* source
    sources: list[SourceSettings] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: list[SourceSettings]) -> list[SourceSettings]:
        check_sources(v)
        return v

    @model_validator(mode="after")
    def _sources_rules(self) -> Settings:
        if self.sources and self.mqtt.envelope != "auto":
            raise ValueError(
                "LORAWAN_MQTT__ENVELOPE must stay 'auto' when LORAWAN_SOURCES is set: the "
                "messages of all sources are told apart by their topics (set `kind` per source)"
            )
        for i, src in enumerate(self.sources):
            if self.environment == "production" and src.tls_insecure:
                raise ValueError(
                    f"LORAWAN_SOURCES[{i}].tls_insecure=true switches off certificate checks; "
                    f"not allowed in production (give LORAWAN_SOURCES[{i}].tls_ca_file instead)"
                )
        return self

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
        if self.environment != "production":
            return self
        for name, secret in _secrets(self):
            if secret.get_secret_value().strip().lower() in _PLACEHOLDERS:
                raise ValueError(f"{name} is a placeholder; set a real secret in production")
        if self.mqtt.tls_insecure:
            raise ValueError(
                "LORAWAN_MQTT__TLS_INSECURE=true switches off certificate checks; "
                "not allowed in production (give LORAWAN_MQTT__TLS_CA_FILE instead)"
            )
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
    if len(loc) >= 3 and loc[0] == "sources" and isinstance(loc[1], int):  # #16
        return f"LORAWAN_SOURCES[{loc[1]}]." + ".".join(str(p) for p in loc[2:])
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
                if isinstance(value, dict | list) or _is_secret(tuple(err["loc"]))
                else f" (got {value!r})"
            )
            lines.append(f"{name}: {err['msg']}{shown}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from exc


def _secrets(model: BaseModel, prefix: str = "LORAWAN") -> list[tuple[str, SecretStr]]:
    """Every SecretStr value in the settings tree, with its environment variable name."""
    out: list[tuple[str, SecretStr]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        env = f"{prefix}_{name.upper()}" if prefix == "LORAWAN" else f"{prefix}__{name.upper()}"
        if isinstance(value, SecretStr):
            out.append((env, value))
        elif isinstance(value, list):
            out.extend((f"{env}[{i}]", v) for i, v in enumerate(value) if isinstance(v, SecretStr))
            for i, v in enumerate(value):  # LORAWAN_SOURCES[i].password ... (#16)
                if isinstance(v, BaseModel):
                    for k in type(v).model_fields:
                        x = getattr(v, k)
                        if isinstance(x, SecretStr):
                            out.append((f"{env}[{i}].{k}", x))
        elif isinstance(value, BaseModel):
            out.extend(_secrets(value, env))
    return out


def _is_secret(loc: tuple[int | str, ...]) -> bool:
    """True when ``loc`` names a SecretStr field (mask by type, not by name)."""
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return False
        ann = fields[part].annotation
        if _mentions_secret(ann):
            return True
        model = ann
        args = getattr(ann, "__args__", None)
        if getattr(ann, "__origin__", None) is list and args:  # sources: list[SourceSettings]
            model = args[0]
    return False


def _mentions_secret(ann: Any) -> bool:
    if ann is SecretStr:
        return True
    return any(_mentions_secret(a) for a in getattr(ann, "__args__", ()) or ())
