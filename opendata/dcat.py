"""DCAT-AP.de metadata as JSON-LD, and the validator that tests and ``publish`` share.

The rules checked by :func:`validate` come from reference/OPENDATA.md: DCAT-AP.de 3.0
mandatory properties (dataset: title, description, publisher; distribution: accessURL,
licence), Schleswig-Holstein's extra mandatory fields (licence from the DCAT-AP.de list
without the unspecific "other" licences, temporal coverage, geographic coverage) and the
SH rule that an attribution licence needs ``dcatde:licenseAttributionByText`` and any
other licence must not carry it; controlled vocabularies (EU file type, data theme,
frequency).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from opendata.config import PUBLISHER_PLACEHOLDER, OpenDataSettings
from opendata.files import Export

LICENCE_BASE = "http://dcat-ap.de/def/licenses/"
#: DCAT-AP.de licence ids -> does the licence require attribution ("Namensnennung")?
LICENCES: dict[str, bool] = {
    LICENCE_BASE + k: v
    for k, v in {
        "dl-by-de/2.0": True,
        "dl-zero-de/2.0": False,
        "cc-by/4.0": True,
        "cc-by-sa/4.0": True,
        "cc-by-nd/4.0": True,
        "cc-by-nc/4.0": True,
        "cc-by-de/3.0": True,
        "cc-by-sa-de/3.0": True,
        "cc-zero": False,
        "odbl": True,
        "odby": True,
        "odcpddl": False,
        "officialWork": False,
        "geonutz/20130319": True,
    }.items()
}
EU = "http://publications.europa.eu/resource/authority/"
THEMES = {
    "AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI",
    "TECH", "TRAN",
}  # fmt: skip
FREQUENCIES = {"CONT", "UPDATE_CONT", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ANNUAL", "IRREG"}
FORMATS = {"data.csv": ("CSV", "text/csv"), "data.json": ("JSON", "application/json"),
           "stations.geojson": ("GEOJSON", "application/geo+json")}  # fmt: skip
IANA = "https://www.iana.org/assignments/media-types/"
GEOCODING = "http://dcat-ap.de/def/politicalGeocoding/"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatde": "http://dcat-ap.de/def/dcatde/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "locn": "http://www.w3.org/ns/locn#",
}


def _lit(value: str, typ: str) -> dict[str, str]:
    return {"@value": value, "@type": typ}


def _text(value: str, lang: str) -> dict[str, str]:
    return {"@value": value, "@language": lang}


def resource_url(cfg: OpenDataSettings, name: str, export: Export) -> str | None:
    """Stable URL of a file on this service's API (None without LORAWAN_OPENDATA__PUBLIC_API_URL)."""
    if not cfg.public_api_url:
        return None
    params = {"interval": export.interval, "from": export.first.isoformat(),
              "to": export.end.isoformat()}  # fmt: skip
    if export.category:
        params["category"] = export.category
    if name == "stations.geojson":
        params = {k: v for k, v in params.items() if k == "category"}
    query = f"?{urlencode(params)}" if params else ""
    return f"{cfg.public_api_url.rstrip('/')}/opendata/{name}{query}"


def dataset_jsonld(export: Export, cfg: OpenDataSettings) -> dict[str, Any]:
    lang = cfg.language
    modified = _lit(data_modified(export, cfg).astimezone(UTC).isoformat(), "xsd:dateTime")
    attribution = LICENCES.get(cfg.license, True)
    dists = []
    for name, (fmt, media) in FORMATS.items():
        url = resource_url(cfg, name, export)
        d: dict[str, Any] = {
            "@type": "dcat:Distribution",
            "dct:title": _text(f"{cfg.title} — {name}", lang),
            "dct:license": {"@id": cfg.license},
            "dct:format": {"@id": f"{EU}file-type/{fmt}"},
            "dcat:mediaType": {"@id": IANA + media},
            "dct:modified": modified,
        }
        if url:
            d["dcat:accessURL"] = {"@id": url}
            d["dcat:downloadURL"] = {"@id": url}
        if name != "stations.geojson":
            d["dcat:temporalResolution"] = _lit(export.interval, "xsd:duration")
        if attribution:
            d["dcatde:licenseAttributionByText"] = cfg.attribution_text()
        dists.append(d)
    publisher: dict[str, Any] = {"@type": "foaf:Organization", "foaf:name": cfg.publisher_name}
    if cfg.publisher_url:
        publisher["foaf:homepage"] = {"@id": cfg.publisher_url}
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "dcat:Dataset",
        "dct:title": _text(cfg.title, lang),
        "dct:description": _text(cfg.description, lang),
        "dct:publisher": publisher,
        "dcat:keyword": [_text(k, lang) for k in cfg.keywords],
        "dcat:theme": [{"@id": f"{EU}data-theme/{t}"} for t in cfg.themes],
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": _lit(export.first.isoformat(), "xsd:date"),
            # inclusive: the last local day in the export (``--to`` is the day after it)
            "dcat:endDate": _lit((export.end - timedelta(days=1)).isoformat(), "xsd:date"),
        },
        "dct:accrualPeriodicity": {"@id": f"{EU}frequency/{cfg.accrual_periodicity}"},
        "dcat:temporalResolution": _lit(export.interval, "xsd:duration"),
        "dct:modified": modified,
        "dcat:distribution": dists,
    }
    if cfg.issued is not None:
        doc["dct:issued"] = _lit(cfg.issued.isoformat(), "xsd:date")
    uri = cfg.dataset_uri or (
        f"{cfg.public_api_url.rstrip('/')}/opendata/metadata.jsonld" if cfg.public_api_url else None
    )
    if uri:
        doc["@id"] = uri
    if cfg.contact_email or cfg.contact_name:
        cp: dict[str, Any] = {"@type": "vcard:Organization",
                              "vcard:fn": cfg.contact_name or cfg.publisher_name}  # fmt: skip
        if cfg.contact_email:
            cp["vcard:hasEmail"] = {"@id": f"mailto:{cfg.contact_email}"}
        doc["dcat:contactPoint"] = cp
    if cfg.political_geocoding_uri:
        doc["dcatde:politicalGeocodingURI"] = {"@id": cfg.political_geocoding_uri}
        doc["dcatde:politicalGeocodingLevelURI"] = {
            "@id": f"{GEOCODING}Level/{cfg.political_geocoding_level}"
        }
    lons = [s.longitude for s in export.stations if s.longitude is not None]
    lats = [s.latitude for s in export.stations if s.latitude is not None]
    if lons and lats:
        w, e, s, n = min(lons), max(lons), min(lats), max(lats)
        poly = f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"
        doc["dct:spatial"] = {"@type": "dct:Location",
                              "dcat:bbox": _lit(poly, "http://www.opengis.net/ont/geosparql#wktLiteral")}  # fmt: skip
    return doc


def data_modified(export: Export, cfg: OpenDataSettings) -> datetime:
    """When the exported data last changed: the end of its latest period, or (no rows) the
    end of the exported days. Derived from the data, not the clock, so exporting the same
    data twice gives the same ``metadata.jsonld``."""
    ends = [r.period.end for r in export.rows]
    if ends:
        return max(ends)
    return datetime.combine(export.end, time(), tzinfo=ZoneInfo(cfg.timezone))


def _id(node: Any) -> str:
    return str(node.get("@id", "")) if isinstance(node, Mapping) else ""


def _value(node: Any) -> str:
    if isinstance(node, Mapping):
        return str(node.get("@value", ""))
    return str(node) if isinstance(node, str) else ""


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def validate(doc: Mapping[str, Any]) -> list[str]:
    """Problems that would make the portal reject the dataset ([] = acceptable)."""
    p: list[str] = []
    if doc.get("@type") != "dcat:Dataset":
        p.append("@type must be dcat:Dataset")
    for prop in ("dct:title", "dct:description"):
        if not _value(doc.get(prop)).strip():
            p.append(f"dataset: {prop} is mandatory (DCAT-AP.de)")
    pub = doc.get("dct:publisher")
    if not (isinstance(pub, Mapping) and str(pub.get("foaf:name", "")).strip()):
        p.append("dataset: dct:publisher with foaf:name is mandatory (DCAT-AP.de)")
    elif str(pub.get("foaf:name")).strip() == PUBLISHER_PLACEHOLDER:
        p.append(
            "dataset: dct:publisher is still the placeholder — set "
            "LORAWAN_OPENDATA__PUBLISHER_NAME to the publishing body (e.g. 'Amt Föhr-Amrum')"
        )
    temporal = doc.get("dct:temporal")
    start = _value(temporal.get("dcat:startDate")) if isinstance(temporal, Mapping) else ""
    if not _DATE.match(start):
        p.append("dataset: dct:temporal with a startDate YYYY-MM-DD is mandatory (SH)")
    geo = _id(doc.get("dcatde:politicalGeocodingURI"))
    if geo and not geo.startswith(GEOCODING):
        p.append(f"dataset: politicalGeocodingURI must start with {GEOCODING}")
    if not geo and not isinstance(doc.get("dct:spatial"), Mapping):
        p.append(
            "dataset: geographic coverage (politicalGeocodingURI or dct:spatial) is mandatory (SH)"
        )
    for t in doc.get("dcat:theme", []):
        if _id(t).removeprefix(f"{EU}data-theme/") not in THEMES:
            p.append(f"dataset: theme {_id(t)!r} is not in the EU data-theme vocabulary")
    freq = doc.get("dct:accrualPeriodicity")
    if freq is not None and _id(freq).removeprefix(f"{EU}frequency/") not in FREQUENCIES:
        p.append(f"dataset: accrualPeriodicity {_id(freq)!r} is not in the EU frequency vocabulary")
    dists = doc.get("dcat:distribution") or []
    if not dists:
        p.append("dataset: no dcat:distribution")
    for i, d in enumerate(dists):
        where = f"distribution {i + 1}"
        url = _id(d.get("dcat:accessURL"))
        if not url.startswith(("http://", "https://")):
            p.append(f"{where}: dcat:accessURL (absolute http(s) URL) is mandatory")
        lic = _id(d.get("dct:license")).rstrip("/")
        if lic not in LICENCES:
            p.append(f"{where}: licence {lic!r} is not one of the DCAT-AP.de licences SH accepts")
        text = str(d.get("dcatde:licenseAttributionByText", "")).strip()
        if LICENCES.get(lic, False) and not text:
            p.append(f"{where}: licence {lic} requires dcatde:licenseAttributionByText (SH)")
        if lic in LICENCES and not LICENCES[lic] and text:
            p.append(f"{where}: licenseAttributionByText is forbidden for licence {lic} (SH)")
        fmt = _id(d.get("dct:format")).removeprefix(f"{EU}file-type/")
        if fmt not in {f for f, _ in FORMATS.values()}:
            p.append(f"{where}: dct:format must be from the EU file-type vocabulary")
    return p
