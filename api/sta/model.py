"""The SensorThings data model over the registry and the quantity catalogue.

What maps to what (docs/sensorthings.md has the table):

* a **Thing** is a public device; its id is the DevEUI (upper-case hex), or ``k`` + 16 hex
  digits of the SHA-1 of the registry key for devices without one (TTS ``app/device``
  keys), so ids survive restarts and re-decoding;
* its **Location** (and one **HistoricalLocation**, at first contact) is the registry's
  position; the **FeatureOfInterest** of its observations is the same point;
* a **Sensor** is a device model (``dragino/lht65`` → id ``dragino.lht65``);
* an **ObservedProperty** is a quantity of the catalogue (id = its name);
* a **Datastream** is device × quantity × sensor label, as the registry's latest readings
  list them; its id is ``<thing>.<quantity>[.<sensor>]``;
* an **Observation** is one stored reading; its id is ``<datastream>.<nanoseconds>``.

Only devices marked ``public`` exist here, the rule of the OpenData export; device-health and
position quantities are not offered (the export's ``NOT_EXPORTED``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from decoders.quantities import CATALOGUE, Quantity, QuantityInfo
from opendata.aggregate import NOT_EXPORTED, PEOPLE
from storage.base import PointQuery, to_ns
from storage.registry_base import DeviceStatus, Registry

ENTITY_SETS = (
    "Things",
    "Locations",
    "HistoricalLocations",
    "Datastreams",
    "Sensors",
    "ObservedProperties",
    "Observations",
    "FeaturesOfInterest",
)
#: navigation property -> (entity set, to-many?) for every entity set
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    "Things": {
        "Locations": ("Locations", True),
        "HistoricalLocations": ("HistoricalLocations", True),
        "Datastreams": ("Datastreams", True),
    },
    "Locations": {
        "Things": ("Things", True),
        "HistoricalLocations": ("HistoricalLocations", True),
    },
    "HistoricalLocations": {"Thing": ("Things", False), "Locations": ("Locations", True)},
    "Datastreams": {
        "Thing": ("Things", False),
        "Sensor": ("Sensors", False),
        "ObservedProperty": ("ObservedProperties", False),
        "Observations": ("Observations", True),
    },
    "Sensors": {"Datastreams": ("Datastreams", True)},
    "ObservedProperties": {"Datastreams": ("Datastreams", True)},
    "Observations": {
        "Datastream": ("Datastreams", False),
        "FeatureOfInterest": ("FeaturesOfInterest", False),
    },
    "FeaturesOfInterest": {"Observations": ("Observations", True)},
}

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(eq=False)
class Entity:
    """One entity: its set, id and properties (typed: datetimes stay datetimes)."""

    kind: str
    id: str
    props: dict[str, Any]
    #: related entities, filled by the model (to-one: an Entity; to-many: a list)
    rel: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StreamKey:
    """Where a Datastream's observations live in the time-series store."""

    quantity: str
    where: dict[str, str]
    people: bool

    def query(self, **kw: Any) -> PointQuery:
        return PointQuery(measurement=self.quantity, where=self.where, **kw)


def thing_id(d: DeviceStatus) -> str:
    if d.dev_eui:
        return d.dev_eui.upper()
    return "k" + hashlib.sha1(d.device_key.encode("utf-8")).hexdigest()[:16]


def _sensor_token(sensor: str) -> str:
    if _SAFE.fullmatch(sensor):
        return sensor
    return "h" + hashlib.sha1(sensor.encode("utf-8")).hexdigest()[:8]


def sensor_id(model_id: str | None) -> str:
    return (model_id or "unknown").replace("/", ".")


def _unit(info: QuantityInfo) -> dict[str, str]:
    return {
        "name": info.label_de,
        "symbol": info.unit,
        "definition": f"https://www.iana.org/assignments/senml/senml.xhtml#{info.senml_unit}",
    }


def _point(d: DeviceStatus) -> dict[str, Any] | None:
    m = d.meta
    if m.latitude is None or m.longitude is None:
        return None
    return {"type": "Point", "coordinates": [m.longitude, m.latitude]}


class StaModel:
    """The registry-derived entities of one request (public devices only).

    Built from one paged read of the registry; the collections here are as many as the
    public devices and their streams. Observations are not held: they are read from the
    store page by page (:meth:`stream`)."""

    def __init__(self, devices: Iterable[DeviceStatus]) -> None:
        self.sets: dict[str, dict[str, Entity]] = {k: {} for k in ENTITY_SETS}
        self.streams: dict[str, StreamKey] = {}
        for d in devices:
            if d.meta.public is True:
                self._add(d)
        for ds in self.sets["Datastreams"].values():
            ds.rel["Observations"] = []  # read from the store when asked
        for foi in self.sets["FeaturesOfInterest"].values():
            foi.rel["Observations"] = []

    @classmethod
    def from_registry(cls, registry: Registry) -> StaModel:
        devices: list[DeviceStatus] = []
        offset = 0
        while True:
            page, total = registry.list_devices(offset=offset, limit=500)
            devices.extend(page)
            offset += len(page)
            if not page or offset >= total:
                break
        return cls(devices)

    # -- building ----------------------------------------------------------------------

    def _add(self, d: DeviceStatus) -> None:
        tid = thing_id(d)
        m = d.meta
        name = m.name or d.device_name or d.device_id or tid
        thing = Entity(
            "Things",
            tid,
            {
                "name": name,
                "description": f"LoRaWAN-Sensor {d.model_id or 'unbekanntes Modell'}"
                + (f", Standort {m.site}" if m.site else ""),
                "properties": {
                    k: v
                    for k, v in {
                        "devEui": d.dev_eui.upper() if d.dev_eui else None,
                        "category": m.category,
                        "site": m.site,
                        "model": d.model_id,
                        "application": d.application,
                        "network": d.source,
                        "expectedIntervalSeconds": m.expected_interval_s,
                    }.items()
                    if v is not None
                },
            },
        )
        self.sets["Things"][tid] = thing
        thing.rel.update(Locations=[], HistoricalLocations=[], Datastreams=[])
        geometry = _point(d)
        foi = Entity(
            "FeaturesOfInterest",
            tid,
            {
                "name": f"Standort von {name}",
                "description": m.site or f"Position des Sensors {name}",
                "encodingType": GEOJSON,
                "feature": geometry,
            },
        )
        self.sets["FeaturesOfInterest"][tid] = foi
        if geometry is not None:
            loc = Entity(
                "Locations",
                tid,
                {
                    "name": m.site or f"Standort von {name}",
                    "description": f"Position des Sensors {name}",
                    "encodingType": GEOJSON,
                    "location": geometry,
                },
            )
            loc.rel.update(Things=[thing], HistoricalLocations=[])
            self.sets["Locations"][tid] = loc
            thing.rel["Locations"].append(loc)
            if d.first_seen is not None:
                hl = Entity("HistoricalLocations", tid, {"time": d.first_seen})
                hl.rel.update(Thing=thing, Locations=[loc])
                self.sets["HistoricalLocations"][tid] = hl
                thing.rel["HistoricalLocations"].append(hl)
                loc.rel["HistoricalLocations"].append(hl)
        sid = sensor_id(d.model_id)
        sensor = self.sets["Sensors"].get(sid)
        if sensor is None:
            brand, _, model = (d.model_id or "unknown/unknown").partition("/")
            sensor = Entity(
                "Sensors",
                sid,
                {
                    "name": d.model_id or "unbekannt",
                    "description": f"{brand} {model}".strip(),
                    "encodingType": "text/html",
                    "metadata": (
                        "https://www.thethingsnetwork.org/device-repository/devices/"
                        f"{brand}/{model}/"
                        if d.model_id
                        else ""
                    ),
                },
            )
            sensor.rel["Datastreams"] = []
            self.sets["Sensors"][sid] = sensor
        seen: set[tuple[str, str]] = set()
        for quantity, label, _value in d.last_readings:
            if (quantity, label) in seen:
                continue
            seen.add((quantity, label))
            try:
                q = Quantity(quantity)
            except ValueError:
                continue
            if q in NOT_EXPORTED:
                continue
            self._add_stream(d, thing, sensor, foi, CATALOGUE[q], label)

    def _add_stream(
        self,
        d: DeviceStatus,
        thing: Entity,
        sensor: Entity,
        foi: Entity,
        info: QuantityInfo,
        label: str,
    ) -> None:
        q = str(info.name)
        op = self.sets["ObservedProperties"].get(q)
        if op is None:
            op = Entity(
                "ObservedProperties",
                q,
                {
                    "name": info.label_de,
                    "definition": f"urn:lorawan-monitor:quantity:{q}",
                    "description": f"{info.label_de} ({info.label_en}) in {info.unit}",
                    "properties": {"quantity": q, "nameEn": info.label_en},
                },
            )
            op.rel["Datastreams"] = []
            self.sets["ObservedProperties"][q] = op
        ds_id = f"{thing.id}.{q}" + (f".{_sensor_token(label)}" if label else "")
        ds = Entity(
            "Datastreams",
            ds_id,
            {
                "name": f"{info.label_de} – {thing.props['name']}"
                + (f" ({label})" if label else ""),
                "description": f"{info.label_de} des Sensors {thing.props['name']}",
                "observationType": OM_MEASUREMENT,
                "unitOfMeasurement": _unit(info),
                "properties": {"quantity": q, **({"sensor": label} if label else {})},
            },
        )
        ds.rel.update(Thing=thing, Sensor=sensor, ObservedProperty=op)
        self.sets["Datastreams"][ds_id] = ds
        thing.rel["Datastreams"].append(ds)
        sensor.rel["Datastreams"].append(ds)
        op.rel["Datastreams"].append(ds)
        where = {"dev_eui": d.dev_eui.upper()} if d.dev_eui else {"device": d.device_id}
        where["sensor"] = label
        self.streams[ds_id] = StreamKey(quantity=q, where=where, people=info.name in PEOPLE)
        ds.rel["_foi"] = foi

    # -- observations ------------------------------------------------------------------

    def observation(self, ds: Entity, time: datetime, value: float | None) -> Entity:
        key = self.streams[ds.id]
        result: float | None = value
        quality: str | None = None
        if key.people and value is not None and 0 < value < PEOPLE_MIN:
            result, quality = None, "suppressed"
        obs = Entity(
            "Observations",
            f"{ds.id}.{to_ns(time)}",
            {"phenomenonTime": time, "resultTime": time, "result": result},
        )
        if quality:
            obs.props["resultQuality"] = quality
        obs.rel.update(Datastream=ds, FeatureOfInterest=ds.rel["_foi"])
        return obs


#: people counts below this are withheld (the OpenData export's privacy rule)
PEOPLE_MIN = 5
