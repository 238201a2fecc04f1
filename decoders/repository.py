"""The TTN LoRaWAN Device Repository as a codec source (a local checkout, never shipped).

The user clones ``TheThingsNetwork/lorawan-devices`` and names the folder in
``LORAWAN_INGEST__DEVICE_REPOSITORY``; we neither ship nor download it (its README
claims database rights). A model id ``brand/model`` (from TTS ``version_ids``, a
devices-file ``model`` or a ChirpStack device tag ``model``) resolves the way The
Things Stack does it, through the repository's own layout:

1. ``vendor/index.yaml`` lists the vendor (``vendors: [{id, name, ...}]``);
2. ``vendor/<brand>/index.yaml`` lists the device (``endDevices: [model, ...]``);
3. ``vendor/<brand>/<model>.yaml`` has ``firmwareVersions: [{version, hardwareVersions,
   profiles: {<band>: {id, codec}}}]``: the firmware version (and hardware version) of
   the uplink picks the entry, the band (TTS ``band_id`` ``EU_863_870`` is the
   repository's ``EU863-870``) picks the profile, whose ``codec`` names
4. ``vendor/<brand>/<codec>.yaml``, whose ``uplinkDecoder.fileName`` names
5. the JavaScript file, loaded lazily (first uplink) in the sandbox of
   :mod:`decoders.js`; its ``normalizeUplink``, when present, gives the readings.

Without a firmware version the newest listed one is used, without a band EU863-870
(else the first profile). A model the repository does not list resolves to nothing
(the other decoding paths apply); a listed model whose files are missing or broken
resolves to a :class:`~decoders.js.BrokenCodec`, so its devices get decode status
``codec_error`` with the reason -- never a crash.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from decoders.base import Decoder
from decoders.catalog import NATIVE, DecoderCatalog
from decoders.errors import UnknownModelError
from lorawan_monitor.errors import ConfigError

log = logging.getLogger(__name__)

SETTING = "LORAWAN_INGEST__DEVICE_REPOSITORY"
DEFAULT_BAND = "EU863-870"


class ResolutionError(Exception):
    """A model is listed in the repository but its codec cannot be found or read."""


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """Where one model's codec lives, and how it was chosen."""

    model_id: str
    vendor_name: str
    model_name: str
    firmware: str | None
    band: str | None
    profile: str | None
    codec_id: str | None
    #: None: the repository has no codec for this model (not an error)
    js_file: Path | None
    examples: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def repository_band(band_id: str) -> str:
    """TTS ``band_id`` (``EU_863_870``, ``AS_923_2``) -> repository key (``EU863-870``, ``AS923-2``)."""
    if "_" not in band_id:
        return band_id
    parts = band_id.split("_")
    head = parts[0] + parts[1]
    return head + ("-" + "-".join(parts[2:]) if len(parts) > 2 else "")


#: libyaml's safe loader when PyYAML was built with it (a checkout has thousands of files)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (safe loader)
    except FileNotFoundError:
        raise ResolutionError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ResolutionError(f"{path} cannot be read as YAML ({exc})") from exc


class DeviceRepository:
    """Read-only view of a local lorawan-devices checkout (files read on demand)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        index = self.root / "vendor" / "index.yaml"
        if not index.is_file():
            raise ConfigError(
                f"{SETTING}={self.root}: no vendor/index.yaml there; point it at a checkout "
                "of https://github.com/TheThingsNetwork/lorawan-devices"
            )
        try:
            data = _load(index)
        except ResolutionError as exc:
            raise ConfigError(f"{SETTING}: {exc}") from exc
        vendors = data.get("vendors") if isinstance(data, dict) else None
        if not isinstance(vendors, list):
            raise ConfigError(f"{SETTING}: {index} has no 'vendors' list")
        self.vendors: dict[str, str] = {
            str(v["id"]): str(v.get("name") or v["id"])
            for v in vendors
            if isinstance(v, dict) and v.get("id")
        }
        self._devices: dict[str, tuple[str, ...]] = {}

    def devices(self, brand: str) -> tuple[str, ...]:
        """The vendor's ``endDevices`` (empty if the vendor has no index)."""
        if brand not in self._devices:
            try:
                data = _load(self.root / "vendor" / brand / "index.yaml")
            except ResolutionError:
                data = None
            listed = data.get("endDevices") if isinstance(data, dict) else None
            self._devices[brand] = tuple(str(d) for d in listed or () if d)
        return self._devices[brand]

    def model_ids(self) -> Iterator[str]:
        for brand in sorted(self.vendors):
            for model in self.devices(brand):
                yield f"{brand}/{model}"

    def knows(self, model_id: str) -> bool:
        brand, _, model = model_id.partition("/")
        return brand in self.vendors and model in self.devices(brand)

    def resolve(
        self,
        model_id: str,
        *,
        firmware: str | None = None,
        hardware: str | None = None,
        band: str | None = None,
    ) -> Resolved | None:
        """None when the repository does not list the model; ResolutionError when it
        lists it but the files do not lead to a codec."""
        if not self.knows(model_id):
            return None
        brand, _, model = model_id.partition("/")
        folder = self.root / "vendor" / brand
        device = _load(folder / f"{model}.yaml")
        if not isinstance(device, dict):
            raise ResolutionError(f"{folder / (model + '.yaml')} is not a mapping")
        notes: list[str] = []
        fw = self._firmware(device, firmware, hardware, notes, folder / f"{model}.yaml")
        profiles = fw.get("profiles")
        if not isinstance(profiles, dict) or not profiles:
            raise ResolutionError(
                f"{folder / (model + '.yaml')}: firmware {fw.get('version')!r} has no profiles"
            )
        wanted = repository_band(band) if band else DEFAULT_BAND
        key = wanted if wanted in profiles else next(iter(profiles))
        if band and key != wanted:
            notes.append(f"no profile for band {wanted}; used {key}")
        profile = profiles[key] if isinstance(profiles[key], dict) else {}
        codec_id = profile.get("codec")
        base = Resolved(
            model_id=model_id,
            vendor_name=self.vendors.get(brand, brand),
            model_name=str(device.get("name") or model),
            firmware=str(fw.get("version")) if fw.get("version") is not None else None,
            band=key,
            profile=str(profile.get("id")) if profile.get("id") else None,
            codec_id=str(codec_id) if codec_id else None,
            js_file=None,
            notes=tuple(notes),
        )
        if not codec_id:
            return base
        codec_yaml = folder / f"{codec_id}.yaml"
        codec = _load(codec_yaml)
        decoder = codec.get("uplinkDecoder") if isinstance(codec, dict) else None
        if not isinstance(decoder, dict) or not decoder.get("fileName"):
            raise ResolutionError(f"{codec_yaml}: no uplinkDecoder.fileName")
        js = folder / str(decoder["fileName"])
        if not js.is_file():
            raise ResolutionError(f"{codec_yaml}: uplinkDecoder.fileName {js} does not exist")
        examples = decoder.get("examples")
        return Resolved(
            **{
                **base.__dict__,
                "js_file": js,
                "examples": tuple(e for e in examples or () if isinstance(e, dict)),
            }
        )

    @staticmethod
    def _firmware(
        device: Mapping[str, Any],
        firmware: str | None,
        hardware: str | None,
        notes: list[str],
        where: Path,
    ) -> Mapping[str, Any]:
        versions = [v for v in device.get("firmwareVersions") or () if isinstance(v, dict)]
        if not versions:
            raise ResolutionError(f"{where}: no firmwareVersions")
        if firmware is not None:
            hits = [v for v in versions if str(v.get("version")) == firmware]
            if hardware is not None and len(hits) > 1:
                hits = [v for v in hits if hardware in map(str, v.get("hardwareVersions") or ())]
            if hits:
                return hits[0]
            notes.append(f"firmware {firmware!r} not listed; used {versions[-1].get('version')!r}")
        return versions[-1]


class RepositoryCatalog(DecoderCatalog):
    """A decoder catalog that falls back to the Device Repository, lazily.

    Native decoders and the codecs folder (``base``) always win; a repository codec is
    compiled on the first uplink that needs it and shared by every model, firmware and
    band that resolves to the same file.
    """

    def __init__(
        self, repository: DeviceRepository, base: DecoderCatalog = NATIVE, **limits: Any
    ) -> None:
        super().__init__()
        self._by_id = dict(base._by_id)  # same module family: no private access across parts
        self.repository = repository
        self._limits = limits
        self._lock = threading.Lock()
        self._resolved: dict[tuple[str, str | None, str | None, str | None], Decoder | None] = {}
        self._by_file: dict[Path, Decoder] = {}

    def copy(self) -> RepositoryCatalog:
        new = RepositoryCatalog(self.repository, self, **self._limits)
        return new

    def find(
        self, model_id: str | None, versions: Mapping[str, str] | None = None
    ) -> Decoder | None:
        if model_id is None:
            return None
        hit = self._by_id.get(model_id)
        if hit is not None:
            return hit
        v = versions or {}
        key = (model_id, v.get("firmware_version"), v.get("hardware_version"), v.get("band_id"))
        with self._lock:
            if key not in self._resolved:
                self._resolved[key] = self._load(model_id, key[1], key[2], key[3])
            return self._resolved[key]

    def get(self, model_id: str) -> Decoder:
        found = self.find(model_id)
        if found is None:
            return super().get(model_id)
        return found

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self.find(model_id) is not None

    def closest(self, model_id: str, n: int = 3) -> list[str]:
        import difflib  # noqa: PLC0415 (only on a miss)

        known = [*self._by_id, *self.repository.model_ids()]
        return difflib.get_close_matches(model_id, known, n=n, cutoff=0.4)

    def resolve(self, model_id: str, versions: Mapping[str, str] | None = None) -> Resolved | None:
        """The repository's answer for a model (for listings), without compiling."""
        v = versions or {}
        return self.repository.resolve(
            model_id,
            firmware=v.get("firmware_version"),
            hardware=v.get("hardware_version"),
            band=v.get("band_id"),
        )

    def _load(
        self, model_id: str, firmware: str | None, hardware: str | None, band: str | None
    ) -> Decoder | None:
        from decoders.js import BrokenCodec, JsCodecDecoder  # noqa: PLC0415 (V8 on demand)

        try:
            found = self.repository.resolve(
                model_id, firmware=firmware, hardware=hardware, band=band
            )
        except ResolutionError as exc:
            log.error("Device Repository: %s: %s", model_id, exc)
            return BrokenCodec.create(f"Device Repository: {exc}", model_ids=(model_id,))
        if found is None or found.js_file is None:
            return None
        cached = self._by_file.get(found.js_file)
        if cached is not None:
            return cached
        decoder: Decoder
        try:
            source = found.js_file.read_text(encoding="utf-8")
            decoder = JsCodecDecoder.from_source(
                source,
                model_ids=(model_id,),
                filename=found.js_file.name,
                vendor=found.vendor_name,
                model_name=found.model_name,
                description=f"TTN Device Repository codec {found.codec_id}",
                **self._limits,
            )
        except (OSError, UnicodeDecodeError, ConfigError) as exc:
            log.error("Device Repository codec for %s disabled: %s", model_id, exc)
            decoder = BrokenCodec.create(
                f"Device Repository codec {found.js_file}: {exc}", model_ids=(model_id,)
            )
        else:
            log.info("Device Repository codec %s loaded for %s", found.js_file, model_id)
        self._by_file[found.js_file] = decoder
        return decoder


def with_repository(base: DecoderCatalog, root: Path | str, **limits: Any) -> RepositoryCatalog:
    """``base`` plus the Device Repository at ``root`` (ConfigError naming the setting)."""
    return RepositoryCatalog(DeviceRepository(root), base, **limits)


__all__ = [
    "DEFAULT_BAND",
    "DeviceRepository",
    "RepositoryCatalog",
    "ResolutionError",
    "Resolved",
    "UnknownModelError",
    "repository_band",
    "with_repository",
]
