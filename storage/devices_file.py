"""Devices files (YAML or CSV): metadata for devices, imported into the registry.

YAML: a list of mappings, or a mapping with a ``devices:`` list. CSV: a header row and
one device per row; ``variables`` and ``tags`` cells hold JSON objects (``tags`` may also
be ``key=value;key=value``), empty cells mean "not set". What German Excel writes is read
as it is: ``;`` between cells, Windows-1252 when the file is not UTF-8, a decimal comma
(``54,12``) and ``ja``/``nein`` for yes/no. Keys / columns::

    dev_eui (required, 16 hex digits), name, model (brand/model), category
    (environment | tourism | traffic), site, latitude, longitude, expected_interval
    (seconds, or "90s" / "15m" / "1h" / "1d"), public, notes, variables, tags

Every error is a :class:`~lorawan_monitor.errors.ConfigError` naming the file, the
line and the field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lorawan_monitor.errors import ConfigError
from storage.registry_base import DeviceMeta, Registry

Format = Literal["yaml", "csv"]
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_ERRORS = 20
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
#: yes / no words beyond pydantic's own (true/false, yes/no, on/off, 1/0, y/n)
_BOOLS = {"ja": True, "j": True, "wahr": True, "x": True, "nein": False, "falsch": False}


class ModelCatalogue(Protocol):
    """The decoders a devices file may name (``decoders.catalog.DecoderCatalog``)."""

    def __contains__(self, model_id: object) -> bool: ...
    def closest(self, model_id: str, n: int = 3) -> list[str]: ...


class DeviceRow(BaseModel):
    """One device of a devices file, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dev_eui: str
    name: str | None = Field(None, max_length=200)
    model: str | None = None
    category: Literal["environment", "tourism", "traffic"] | None = None
    site: str | None = Field(None, max_length=200)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    expected_interval: int | None = Field(None, ge=1)
    public: bool | None = None
    notes: str | None = None
    variables: dict[str, Any] | None = None
    tags: dict[str, str] | None = None

    @field_validator("dev_eui", mode="before")
    @classmethod
    def _eui(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = f"{v:016X}"  # YAML read an all-digit EUI as a number
        if isinstance(v, str):
            s = re.sub(r"[\s:-]", "", v).upper()
            if not re.fullmatch(r"[0-9A-F]{16}", s):
                raise ValueError(f"{v!r} is not a DevEUI (16 hex digits)")
            return s
        return v

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def _decimal_comma(cls, v: Any) -> Any:
        if isinstance(v, str) and _DECIMAL_COMMA.fullmatch(v):
            return v.replace(",", ".")  # German Excel: 54,1234
        return v

    @field_validator("public", mode="before")
    @classmethod
    def _yes_no(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in _BOOLS:
            return _BOOLS[v.strip().lower()]
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str | None) -> str | None:
        if v is not None and not _MODEL_ID.fullmatch(v):
            raise ValueError(f"{v!r} is not a model id like 'dragino/lht65' (lower case)")
        return v

    @field_validator("expected_interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = _DURATION.fullmatch(v.lower())
            if not m:
                raise ValueError(f"{v!r} is not a duration (seconds, or like '15m', '1h')")
            return int(m.group(1)) * _UNITS[m.group(2)]
        return v

    @field_validator("variables", mode="before")
    @classmethod
    def _variables(cls, v: Any) -> Any:
        return _json_object(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.lstrip().startswith("{"):
            pairs = [p.split("=", 1) for p in v.split(";") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError("tags must be a JSON object or key=value;key=value")
            return {k.strip(): val.strip() for k, val in pairs}
        v = _json_object(v)
        if isinstance(v, dict):  # numbers and booleans are fine as tag values
            return {k: x if isinstance(x, str) else json.dumps(x) for k, x in v.items()}
        return v

    def meta(self) -> DeviceMeta:
        return DeviceMeta(
            name=self.name,
            category=self.category,
            site=self.site,
            latitude=self.latitude,
            longitude=self.longitude,
            model_override=self.model,
            expected_interval_s=self.expected_interval,
            public=self.public,
            notes=self.notes,
            variables=self.variables,
            tags=self.tags,
        )


def _json_object(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from exc
    return v


def load_devices_file(path: str | Path) -> list[tuple[str, DeviceMeta]]:
    """Read and validate a devices file; the format follows the extension (.csv, else YAML)."""
    p = Path(path)
    csv_file = p.suffix.lower() == ".csv"
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"devices file {p}: cannot read it: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not csv_file:
            raise ConfigError(f"devices file {p}: not UTF-8 text: {exc}") from exc
        text = raw.decode("cp1252", errors="replace")  # "CSV (Trennzeichen-getrennt)" in Excel
    return parse_devices(text, name=str(p), fmt="csv" if csv_file else "yaml")


def unknown_models(
    entries: Sequence[tuple[str, DeviceMeta]], models: ModelCatalogue, *, name: str
) -> list[str]:
    """One warning per device whose model has no decoder here.

    Not an error: such a device still works when its network server sends the payload
    already decoded; but its own bytes cannot be decoded, which the file's author should
    hear before the first uplink is rejected."""
    out = []
    for dev_eui, meta in entries:
        model = meta.model_override
        if model is None or model in models:
            continue
        close = models.closest(model, 1)
        out.append(
            f"{name}: device {dev_eui}: no decoder for model {model!r}"
            + (f" — did you mean {close[0]!r}?" if close else "")
            + " (`lorawan-monitor decoders` lists them; without one, only payloads the "
            "network server decoded are stored)"
        )
    return out


def parse_devices(text: str, *, name: str, fmt: Format) -> list[tuple[str, DeviceMeta]]:
    """Validate devices from the text of a file; ``name`` is used in error messages."""
    rows = _csv_rows(text, name) if fmt == "csv" else _yaml_rows(text, name)
    errors: list[str] = []
    out: list[tuple[str, DeviceMeta]] = []
    first_line: dict[str, int] = {}
    for line, raw in rows:
        if fmt == "csv":
            raw = {k: v for k, v in raw.items() if v is not None and v.strip() != ""}
        elif not isinstance(raw, Mapping):
            errors.append(
                f"{name}: line {line}: expected a device with fields (dev_eui: …, model: …), "
                f"got {_kind(raw)}"
            )
            continue
        try:
            row = DeviceRow.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                field = ".".join(str(x) for x in e["loc"]) or "row"
                msg = e["msg"].removeprefix("Value error, ")
                if e["type"] == "extra_forbidden":
                    msg = "unknown field (see docs/registry.md for the columns)"
                errors.append(f"{name}: line {line}, field {field}: {msg}")
            continue
        if row.dev_eui in first_line:
            errors.append(
                f"{name}: line {line}, field dev_eui: {row.dev_eui} already on line "
                f"{first_line[row.dev_eui]}"
            )
            continue
        first_line[row.dev_eui] = line
        out.append((row.dev_eui, row.meta()))
    if errors:
        more = f"\n… and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
        raise ConfigError("\n".join(errors[:_MAX_ERRORS]) + more)
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "an empty entry"
    if isinstance(value, list):
        return "a list"
    return f"the text {str(value)[:60]!r}"


def _csv_rows(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)  # spreadsheets in some locales write ';'
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if not reader.fieldnames or "dev_eui" not in [f.strip() for f in reader.fieldnames]:
        raise ConfigError(f"{name}: line 1: the header row must name a dev_eui column")
    rows = []
    try:
        for raw in reader:
            extra = raw.pop(None, None)  # type: ignore[call-overload]
            if extra:
                raise ConfigError(f"{name}: line {reader.line_num}: more cells than columns")
            rows.append((reader.line_num, {k.strip(): v for k, v in raw.items()}))
    except csv.Error as exc:
        raise ConfigError(f"{name}: line {reader.line_num}: {exc}") from exc
    return rows


def _yaml_rows(text: str, name: str) -> list[tuple[int, Any]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if node is None:
        return []
    if isinstance(data, Mapping) and isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "devices":
                node, data = value, data.get("devices")
                break
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{name}: line 1: expected a list of devices (or a 'devices:' list)")
    return [(item.start_mark.line + 1, d) for item, d in zip(node.value, data, strict=True)]


def import_devices(registry: Registry, entries: list[tuple[str, DeviceMeta]]) -> int:
    """Create or update each device's metadata (one transaction); returns how many rows
    were written."""
    registry.import_meta(entries)
    return len(entries)
