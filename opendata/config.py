"""OpenData settings: environment variables ``LORAWAN_OPENDATA__<NAME>`` (or keyword
arguments). Kept beside the export rather than in ``lorawan_monitor.settings`` so that the
export can be configured on its own; the values are validated at construction.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DL_BY_DE_2 = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
#: DCAT-AP.de's own example of a political geocoding URI (Borgsum, Föhr); never a default
BORGSUM = "http://dcat-ap.de/def/politicalGeocoding/municipalityKey/01054015"


#: the default publisher name: says what to set, and fails validation (opendata.dcat.validate)
PUBLISHER_PLACEHOLDER = "Herausgeber (LORAWAN_OPENDATA__PUBLISHER_NAME setzen)"


class OpenDataSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LORAWAN_OPENDATA__", extra="forbid", validate_default=True
    )

    title: str = "LoRaWAN-Sensordaten (aggregiert)"
    description: str = (
        "Aggregierte Messwerte kommunaler LoRaWAN-Sensoren (Umwelt, Tourismus, Verkehr): "
        "Mittel-, Minimal- und Maximalwerte, Summen von Zählern und Belegungsanteile je "
        "Station, Größe und Zeitraum. Zeitstempel in UTC, Tagesgrenzen nach Ortszeit "
        "Europe/Berlin. Die Werte sind nicht plausibilisiert."
    )
    publisher_name: str = PUBLISHER_PLACEHOLDER
    publisher_url: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    #: licence URI from http://dcat-ap.de/def/licenses/
    license: str = DL_BY_DE_2
    #: attribution text; needed by attribution licences (defaults to the publisher's name)
    attribution: str | None = None
    #: dcatde:politicalGeocodingURI of the municipality / Amt, e.g. BORGSUM
    political_geocoding_uri: str | None = None
    political_geocoding_level: str = "municipality"
    #: EU data themes (publications.europa.eu data-theme codes)
    themes: list[str] = Field(default_factory=lambda: ["ENVI"])
    keywords: list[str] = Field(default_factory=lambda: ["LoRaWAN", "Sensoren", "Messwerte"])
    #: EU frequency vocabulary code for dcterms:accrualPeriodicity
    accrual_periodicity: str = "DAILY"
    #: people counts (people_* quantities) in 1 .. min_people_count-1 are suppressed
    min_people_count: int = Field(5, ge=0)
    #: the public base URL of this service's API (stable resource URLs), e.g. https://x/api/v1
    public_api_url: str | None = None
    #: URI that identifies the dataset (dcat:Dataset @id); default from public_api_url
    dataset_uri: str | None = None
    timezone: str = "Europe/Berlin"
    language: str = "de"
    #: date of first publication (dct:issued, YYYY-MM-DD); unset = not stated. Never the
    #: clock: the same data must give the same metadata.jsonld
    issued: date | None = None

    @field_validator("license")
    @classmethod
    def _licence(cls, v: str) -> str:
        v = v.rstrip("/")
        if not v.startswith("http://dcat-ap.de/def/licenses/"):
            raise ValueError("must be a licence URI from http://dcat-ap.de/def/licenses/")
        return v

    def attribution_text(self) -> str:
        return self.attribution or self.publisher_name
