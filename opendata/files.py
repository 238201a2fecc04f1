"""Export files: long-format CSV, JSON, stations GeoJSON and the README that explains them.

``write_export`` writes ``data.csv``, ``data.json``, ``stations.geojson``, ``README.md``
and ``metadata.jsonld`` (DCAT-AP.de) into one folder.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from decoders.quantities import CATALOGUE, Quantity
from opendata.aggregate import PEOPLE, Interval, Row
from opendata.config import OpenDataSettings
from opendata.stations import Station

COLUMNS = (
    "station_id",
    "level",
    "period_start_utc",
    "period_end_utc",
    "period_local",
    "interval",
    "quantity",
    "sensor",
    "unit",
    "statistic",
    "value",
    "count",
    "coverage",
    "flag",
)
FILES = {
    "data.csv": "text/csv",
    "data.json": "application/json",
    "stations.geojson": "application/geo+json",
    "README.md": "text/markdown",
    "metadata.jsonld": "application/ld+json",
}


@dataclass(frozen=True, kw_only=True)
class Export:
    rows: Sequence[Row]
    stations: Sequence[Station]
    interval: Interval
    first: date  # local dates [first, end)
    end: date
    category: str | None
    generated_at: datetime


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(v: float | None) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else repr(v)


def row_dict(r: Row) -> dict[str, Any]:
    return {
        "station_id": r.station_id,
        "level": r.level,
        "period_start_utc": _utc(r.period.start),
        "period_end_utc": _utc(r.period.end),
        "period_local": r.period.local,
        "interval": r.interval,
        "quantity": r.quantity,
        "sensor": r.sensor,
        "unit": r.unit,
        "statistic": r.statistic,
        "value": r.value,
        "count": r.count,
        "coverage": r.coverage,
        "flag": r.flag,
    }


def to_csv(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in rows:
        d = row_dict(r)
        d["value"], d["coverage"] = _num(r.value), _num(r.coverage)
        w.writerow([d[c] for c in COLUMNS])
    return buf.getvalue()


def to_json(export: Export) -> str:
    doc = {
        "interval": export.interval,
        "from_local": export.first.isoformat(),
        "to_local_exclusive": export.end.isoformat(),
        "category": export.category,
        "columns": list(COLUMNS),
        "rows": [row_dict(r) for r in export.rows],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def stations_geojson(stations: Sequence[Station]) -> str:
    features = [
        {
            "type": "Feature",
            "id": s.station_id,
            "geometry": {"type": "Point", "coordinates": [s.longitude, s.latitude]},
            "properties": {
                "station_id": s.station_id,
                "name": s.name,
                "category": s.category,
                "site": s.site,
                "model": s.model,
                "expected_interval_s": s.expected_interval_s,
            },
        }
        for s in stations
        if s.latitude is not None and s.longitude is not None
    ]
    return (
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False) + "\n"
    )


def readme(export: Export, cfg: OpenDataSettings) -> str:
    """The export's README: German first (the readers are German), an English part after
    it with the same content (#14). Column and quantity names stay as in the files."""
    used = sorted({r.quantity for r in export.rows})
    q_de = "\n".join(
        f"| `{q}` | {CATALOGUE[Quantity(q)].label_de} "
        f"| {CATALOGUE[Quantity(q)].unit or '1 (Anzahl/Anteil)'} | {CATALOGUE[Quantity(q)].kind} |"
        for q in used
    )
    q_en = "\n".join(
        f"| `{q}` | {CATALOGUE[Quantity(q)].label_en} "
        f"| {CATALOGUE[Quantity(q)].unit or '1 (count/share)'} | {CATALOGUE[Quantity(q)].kind} |"
        for q in used
    )
    people = ", ".join(sorted(p.value for p in PEOPLE))
    attribution = (
        f"\nNamensnennung (attribution): **{cfg.attribution_text()}**\n"
        if requires_attribution(cfg.license)
        else ""
    )
    category = export.category or "alle / all"
    return f"""# {cfg.title}

{cfg.description}

*English below.*

Zeitraum: Ortsdaten {export.first} bis {export.end} (ausschließlich), Zeitzone {cfg.timezone};
Intervall `{export.interval}`; Kategorie: {category}.
Herausgeber: {cfg.publisher_name}. (Die Dateien enthalten keinen Erstellungszeitpunkt:
dieselben Daten ergeben immer dieselben Bytes; `metadata.jsonld` nennt das Änderungsdatum.)

Lizenz: <{cfg.license}>{attribution}

## Dateien

- `data.csv` — Langformat, UTF-8, kommagetrennt, eine Zeile je Station, Zeitraum, Größe,
  Sensor und Kennzahl. `data.json` enthält dieselben Zeilen als JSON-Objekte.
- `stations.geojson` — die Stationen (öffentliche Geräte) mit Koordinaten (WGS 84), Name,
  Kategorie, Standort und Gerätemodell.
- `metadata.jsonld` — Beschreibung des Datensatzes und seiner Distributionen nach DCAT-AP.de.

## Spalten von data.csv

| Spalte | Bedeutung |
| --- | --- |
| `station_id` | DevEUI des Geräts (siehe `stations.geojson`); `site:<Name>` für eine Standortzeile |
| `level` | `device` (ein Sensor) oder `site` (alle öffentlichen Geräte eines Standorts zusammen) |
| `period_start_utc`, `period_end_utc` | Zeitraum in UTC (ISO 8601, `Z`); das Ende gehört nicht dazu |
| `period_local` | Beginn des Zeitraums in Ortszeit mit UTC-Versatz |
| `interval` | Dauer nach ISO 8601: `PT15M`, `PT1H`, `P1D` (Kalendertag in Ortszeit: 23 oder 25 h bei der Zeitumstellung), `P1M` |
| `quantity` | gemessene Größe (Tabelle unten) |
| `sensor` | unterscheidet zwei Sensoren eines Geräts für dieselbe Größe (meist leer) |
| `unit` | Einheit von `value` (leer bei Anzahlen und Anteilen) |
| `statistic` | `mean`, `min`, `max` (Messwerte), `sum` (Anzahl je Intervall), `increase` (Zählerstände), `time_share` (Zeitanteil im Zustand 1, 0..1), `time_weighted_mean` |
| `value` | der Wert der Kennzahl (Dezimalpunkt); leer, wenn unterdrückt (siehe `flag`) |
| `count` | Anzahl der im Zeitraum empfangenen Messwerte |
| `coverage` | empfangene / nach dem Meldeintervall des Geräts erwartete Messwerte (0..1; leer, wenn unbekannt) |
| `flag` | `suppressed`: eine Personenzahl unter {cfg.min_people_count} wurde zum Schutz der Privatsphäre geleert |

## Größen

| Größe | Bezeichnung | Einheit | Art |
| --- | --- | --- | --- |
{q_de}

## Methode

Die Messwerte stammen von LoRaWAN-Sensoren, so wie der Netzwerkserver sie empfangen hat
(Zeit = Empfangszeit des Netzwerkservers, UTC). Messwerte: arithmetisches Mittel, Minimum
und Maximum der Werte im Zeitraum. Anzahlen je Intervall: Summe. Zählerstände: Summe der
Differenzen aufeinanderfolgender Werte; fällt der Zähler, wurde er zurückgesetzt und der
neue Wert zählt ab null; der erste Wert eines Geräts ist seine Ausgangsbasis. Zustände (z. B.
Stellplatz belegt): zeitgewichtet, jeder Wert gilt bis zum nächsten (höchstens das Doppelte
des Meldeintervalls). Standortzeilen fassen alle öffentlichen Geräte des Standorts zusammen.
Personenzahlen ({people}) zwischen 1 und {cfg.min_people_count - 1} werden unterdrückt.

Qualität: Die Werte sind **nicht auf Plausibilität geprüft**, außer gegen den gültigen
Bereich jeder Größe beim Empfang (Werte außerhalb werden verworfen). Lücken zeigen sich als
`coverage` unter 1 oder als fehlende Zeiträume. Nur als öffentlich markierte Geräte sind
enthalten.

---

## English

Period: local dates {export.first} to {export.end} (exclusive), time zone {cfg.timezone};
interval `{export.interval}`; category: {category}.
Publisher: {cfg.publisher_name}. (The files carry no creation time, so the same data
always gives the same bytes; `metadata.jsonld` states when it was modified.)
Licence: <{cfg.license}>

### Files

- `data.csv` — long format, UTF-8, comma-separated, one row per station, period, quantity,
  sensor and statistic. `data.json` holds the same rows as JSON objects.
- `stations.geojson` — the stations (public devices) with coordinates (WGS 84), name,
  category, site and device model.
- `metadata.jsonld` — DCAT-AP.de description of the dataset and its distributions.

### Columns of data.csv

| column | meaning |
| --- | --- |
| `station_id` | DevEUI of the device (see `stations.geojson`); `site:<name>` for a site row |
| `level` | `device` (one sensor) or `site` (all public devices of a site pooled) |
| `period_start_utc`, `period_end_utc` | period in UTC (ISO 8601, `Z`); end is exclusive |
| `period_local` | start of the period in local time with its UTC offset |
| `interval` | ISO 8601 duration: `PT15M`, `PT1H`, `P1D` (local calendar day: 23 h or 25 h when the clocks change), `P1M` |
| `quantity` | measured quantity (table below) |
| `sensor` | tells apart two sensors of one device for the same quantity (empty by default) |
| `unit` | unit of `value` (empty for counts and shares) |
| `statistic` | `mean`, `min`, `max` (measurements), `sum` (counts per interval), `increase` (running counters), `time_share` (share of time in state 1, 0..1), `time_weighted_mean` |
| `value` | the statistic; empty when suppressed (see `flag`) |
| `count` | number of readings received in the period |
| `coverage` | readings received / readings expected from the device's reporting interval (0..1; empty when unknown) |
| `flag` | `suppressed`: a people count below {cfg.min_people_count} was blanked for privacy |

### Quantities

| quantity | label | unit | kind |
| --- | --- | --- | --- |
{q_en}

### Method

Readings come from LoRaWAN sensors as received by the network server (time = network
server receive time, UTC). Measurements: arithmetic mean, minimum and maximum of the
readings in the period. Per-interval counts: sum. Running counters: sum of the
differences between consecutive readings; a drop means the counter was reset and the new
reading counts from zero; the first reading of a device is its baseline. States (e.g.
parking space occupied): time-weighted, each reading holds until the next one (at most
twice the reporting interval). Site rows pool all public devices of the site.
People counts ({people}) between 1 and {cfg.min_people_count - 1} are suppressed.

Quality: the values are **not plausibility-checked** beyond the valid range of each
quantity applied at ingest (out-of-range readings are dropped). Gaps show as a coverage
below 1 or as missing periods. Only devices marked public are included.
"""


def requires_attribution(license_uri: str) -> bool:
    from opendata.dcat import LICENCES

    return LICENCES.get(license_uri.rstrip("/"), True)


def write_export(export: Export, cfg: OpenDataSettings, out: Path) -> dict[str, Path]:
    from opendata.dcat import dataset_jsonld

    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "data.csv": to_csv(export.rows),
        "data.json": to_json(export),
        "stations.geojson": stations_geojson(export.stations),
        "README.md": readme(export, cfg),
        "metadata.jsonld": json.dumps(dataset_jsonld(export, cfg), ensure_ascii=False, indent=1),
    }
    paths = {}
    for name, text in texts.items():
        p = out / name
        p.write_text(text, encoding="utf-8", newline="")
        paths[name] = p
    return paths
