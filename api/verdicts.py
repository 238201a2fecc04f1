"""Installer verdicts: is the radio link good enough, is the battery fine?

Pure functions over what the registry knows (best gateway's RSSI/SNR, spreading factor,
last battery reading, model). The page words them in German or English; the API returns
the verdict with the numbers it rests on, so a person can check it.

Signal quality. A LoRa receiver demodulates down to an SNR below the noise floor that
depends on the spreading factor; Semtech gives these limits in the SX1276/77/78/79
datasheet (Rev. 7, §4.1.1.2, table 13 "Range of Spreading Factors") and in AN1200.22
"LoRa Modulation Basics": SF7 −7.5 dB, SF8 −10, SF9 −12.5, SF10 −15, SF11 −17.5,
SF12 −20 dB. The margin is the measured SNR minus that limit. ``good`` needs a margin of
at least 10 dB, the installation margin ChirpStack's ADR keeps by default (so the link
survives rain, foliage, a parked lorry); below 5 dB a few dB of fading lose frames:
``poor``; in between ``fair``. An RSSI below −120 dBm caps the verdict at ``fair`` (the
receiver is close to its sensitivity whatever the SNR says). Without a spreading factor
the SNR limit is unknown and only the RSSI judges: ≥ −110 good, ≥ −120 fair, else poor.

Battery. Percent (``battery``): ≥ 25 % good, ≥ 10 % low, below critical (our rule: a
device needs a visit when it reaches 25 %, and a replacement below 10 %). Volts
(``battery_voltage``) only where the vendor documents the levels (table below);
elsewhere no verdict, because the same volts mean different things for different cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SignalVerdict = Literal["good", "fair", "poor"]
BatteryVerdict = Literal["good", "low", "critical"]

#: Semtech SX1276 datasheet table 13 / AN1200.22: demodulation SNR limit per SF (dB)
SNR_FLOOR_DB: dict[int, float] = {
    7: -7.5,
    8: -10.0,
    9: -12.5,
    10: -15.0,
    11: -17.5,
    12: -20.0,
}
GOOD_MARGIN_DB = 10.0
FAIR_MARGIN_DB = 5.0
RSSI_WEAK_DBM = -120.0
RSSI_GOOD_DBM = -110.0


@dataclass(frozen=True, kw_only=True)
class Signal:
    verdict: SignalVerdict
    snr_floor_db: float | None
    snr_margin_db: float | None


def signal_quality(rssi: float | None, snr: float | None, sf: int | None) -> Signal | None:
    """The verdict for the best gateway's reception, ``None`` without RSSI and SNR."""
    floor = SNR_FLOOR_DB.get(sf) if sf is not None else None
    if snr is not None and floor is not None:
        margin = round(snr - floor, 1)
        verdict: SignalVerdict = (
            "good" if margin >= GOOD_MARGIN_DB else "fair" if margin >= FAIR_MARGIN_DB else "poor"
        )
        if verdict == "good" and rssi is not None and rssi < RSSI_WEAK_DBM:
            verdict = "fair"
        return Signal(verdict=verdict, snr_floor_db=floor, snr_margin_db=margin)
    if rssi is None:
        return None
    by_rssi: SignalVerdict = (
        "good" if rssi >= RSSI_GOOD_DBM else "fair" if rssi >= RSSI_WEAK_DBM else "poor"
    )
    return Signal(verdict=by_rssi, snr_floor_db=None, snr_margin_db=None)


@dataclass(frozen=True, kw_only=True)
class BatteryRule:
    unit: Literal["%", "V"]
    #: at or below: low / critical
    low: float
    critical: float
    source: str


PERCENT_RULE = BatteryRule(unit="%", low=25.0, critical=10.0, source="lorawan-monitor")
#: volts, per model, only where the vendor documents the levels
VOLT_RULES: dict[str, BatteryRule] = {
    # Dragino LHT65 / LHT65N user manuals, battery status bits [15:14] of the BAT field:
    # good >= 2.65 V, OK 2.55-2.65 V, low 2.50-2.55 V, ultra low <= 2.50 V
    "dragino/lht65": BatteryRule(
        unit="V", low=2.55, critical=2.50, source="Dragino LHT65 user manual, BAT status"
    ),
    "dragino/lht65n": BatteryRule(
        unit="V", low=2.55, critical=2.50, source="Dragino LHT65N user manual, BAT status"
    ),
}


@dataclass(frozen=True, kw_only=True)
class Battery:
    verdict: BatteryVerdict
    value: float
    unit: Literal["%", "V"]
    low: float
    critical: float
    source: str


def _judge(value: float, rule: BatteryRule) -> Battery:
    verdict: BatteryVerdict = (
        "critical" if value <= rule.critical else "low" if value <= rule.low else "good"
    )
    return Battery(
        verdict=verdict,
        value=value,
        unit=rule.unit,
        low=rule.low,
        critical=rule.critical,
        source=rule.source,
    )


def battery_level(
    model_id: str | None, percent: float | None, volts: float | None
) -> Battery | None:
    """The verdict for the last battery reading: percent first, else the model's volts."""
    if percent is not None:
        return _judge(percent, PERCENT_RULE)
    rule = VOLT_RULES.get(model_id or "")
    if volts is not None and rule is not None:
        return _judge(volts, rule)
    return None
