"""The mapping file of a JavaScript codecs folder: ``codecs.yaml``.

One entry per codec file: the model ids it serves, its interface, limits and the
normalization map from vendor keys to canonical quantities::

    codecs:
      acme-th.js:                      # a file in the same folder
        models: [acme/th100, acme/th200]
        interface: ts013               # or chirpstack-v3; omitted = detected
        vendor: Acme
        model_name: TH100
        category: environment
        ports: [1]
        override: false                # true: may replace a native decoder's id
        timeout_ms: 100
        memory_mb: 64
        common_keys: true              # unmapped keys fall back to common key names
        normalize:
          temp: temperature            # shorthand: just the quantity
          batt: {quantity: battery_voltage, scale: 0.001}
          probe.t: {quantity: temperature, sensor: probe, nodata: [327.67]}

Validated with pydantic; any problem is one ``ConfigError`` naming the file and the
setting. Parsed into frozen :class:`CodecEntry` values for :mod:`decoders.js`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from decoders.base import Field as NormField
from decoders.catalog import MODEL_ID_RE
from decoders.quantities import Quantity
from lorawan_monitor.errors import ConfigError

MAPPING_FILE = "codecs.yaml"

Interface = Literal["ts013", "chirpstack-v3"]

DEFAULT_TIMEOUT_MS = 100.0
DEFAULT_MEMORY_MB = 64


class _FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity
    scale: float = 1.0
    offset: float = 0.0
    sensor: str = ""
    nodata: list[float | int | str | bool | None] = Field(default_factory=list)


class _CodecSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1)
    interface: Interface | None = None
    override: bool = False
    vendor: str = ""
    model_name: str = ""
    category: str = "environment"
    ports: list[int] = Field(default_factory=list)
    description: str = ""
    timeout_ms: float = Field(DEFAULT_TIMEOUT_MS, gt=0, le=60_000)
    memory_mb: int = Field(DEFAULT_MEMORY_MB, ge=16, le=4096)
    common_keys: bool = True
    normalize: dict[str, _FieldSpec | Quantity] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        for m in v:
            if not MODEL_ID_RE.match(m):
                raise ValueError(f"model id {m!r} must be lowercase 'brand/model'")
        if len(set(v)) != len(v):
            raise ValueError("a model id is listed twice")
        return v

    @field_validator("ports")
    @classmethod
    def _ports(cls, v: list[int]) -> list[int]:
        bad = [p for p in v if not 1 <= p <= 223]
        if bad:
            raise ValueError(f"f_port must be 1..223, got {bad}")
        return v


class _CodecsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codecs: dict[str, _CodecSpec]

    @field_validator("codecs")
    @classmethod
    def _names(cls, v: dict[str, _CodecSpec]) -> dict[str, _CodecSpec]:
        for name in v:
            if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".js"):
                raise ValueError(f"{name!r}: must be a plain '.js' file name in the codecs folder")
        return v


@dataclass(frozen=True, kw_only=True)
class CodecEntry:
    """One validated codec of the mapping file, with its source loaded."""

    file: Path
    source: str
    model_ids: tuple[str, ...]
    interface: Interface | None = None
    override: bool = False
    vendor: str = ""
    model_name: str = ""
    category: str = "environment"
    ports: tuple[int, ...] = ()
    description: str = ""
    timeout_ms: float = DEFAULT_TIMEOUT_MS
    memory_mb: int = DEFAULT_MEMORY_MB
    common_keys: bool = True
    fields: tuple[NormField, ...] = ()


def _field(key: str, spec: _FieldSpec | Quantity) -> NormField:
    if isinstance(spec, Quantity):
        return NormField(key=key, quantity=spec)
    return NormField(
        key=key,
        quantity=spec.quantity,
        scale=spec.scale,
        offset=spec.offset,
        sensor=spec.sensor,
        nodata=tuple(spec.nodata),
    )


def _problems(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def load_mapping(folder: Path | str) -> list[CodecEntry]:
    """Read and validate ``<folder>/codecs.yaml`` and the codec files it names."""
    folder = Path(folder)
    path = folder / MAPPING_FILE
    if not folder.is_dir():
        raise ConfigError(f"codecs folder {str(folder)!r} does not exist")
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found (a codecs folder needs a {MAPPING_FILE} mapping file "
            "that names each codec file and the model ids it serves)"
        )
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    try:
        parsed = _CodecsFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(exc)}") from exc

    entries: list[CodecEntry] = []
    seen: dict[str, str] = {}
    for name, spec in parsed.codecs.items():
        file = folder / name
        if not file.is_file():
            raise ConfigError(f"{path}: codecs.{name}: no such file {str(file)!r}")
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot be read as UTF-8 text ({exc})") from exc
        for m in spec.models:
            if m in seen:
                raise ConfigError(f"{path}: model {m!r} is mapped to both {seen[m]!r} and {name!r}")
            seen[m] = name
        entries.append(
            CodecEntry(
                file=file,
                source=source,
                model_ids=tuple(spec.models),
                interface=spec.interface,
                override=spec.override,
                vendor=spec.vendor,
                model_name=spec.model_name,
                category=spec.category,
                ports=tuple(spec.ports),
                description=spec.description,
                timeout_ms=spec.timeout_ms,
                memory_mb=spec.memory_mb,
                common_keys=spec.common_keys,
                fields=tuple(_field(k, v) for k, v in spec.normalize.items()),
            )
        )
    return entries
