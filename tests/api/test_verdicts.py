"""Installer verdicts (api/verdicts.py): the thresholds as documented there."""

from __future__ import annotations

import pytest

from api.verdicts import SNR_FLOOR_DB, battery_level, signal_quality


def test_snr_floors_are_semtechs() -> None:
    # SX1276 datasheet table 13: 2.5 dB per spreading factor from -7.5 dB at SF7
    assert SNR_FLOOR_DB == {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}


@pytest.mark.parametrize(
    ("rssi", "snr", "sf", "verdict", "margin"),
    [
        (-97.0, 7.5, 7, "good", 15.0),
        (-110.0, 2.5, 7, "good", 10.0),  # exactly the installation margin
        (-110.0, 2.4, 7, "fair", 9.9),
        (-118.0, -9.0, 10, "fair", 6.0),
        (-125.0, -16.0, 12, "poor", 4.0),
        (-121.0, -5.0, 12, "fair", 15.0),  # a good margin, but the RSSI is near sensitivity
        (-100.0, -12.0, 7, "poor", -4.5),  # below the SF7 limit: frames are being lost
    ],
)
def test_signal_quality_by_sf(
    rssi: float, snr: float, sf: int, verdict: str, margin: float
) -> None:
    s = signal_quality(rssi, snr, sf)
    assert s is not None
    assert (s.verdict, s.snr_margin_db, s.snr_floor_db) == (verdict, margin, SNR_FLOOR_DB[sf])


def test_signal_quality_without_sf_or_values() -> None:
    assert signal_quality(None, None, 7) is None
    assert signal_quality(-105.0, 3.0, None).verdict == "good"  # type: ignore[union-attr]
    assert signal_quality(-115.0, None, 9).verdict == "fair"  # type: ignore[union-attr]
    assert signal_quality(-125.0, None, None).verdict == "poor"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "percent", "volts", "verdict"),
    [
        ("milesight-iot/em300-th", 80.0, None, "good"),
        ("milesight-iot/em300-th", 25.0, None, "low"),
        ("milesight-iot/em300-th", 9.0, None, "critical"),
        ("dragino/lht65", None, 3.06, "good"),
        ("dragino/lht65", None, 2.60, "good"),  # Dragino "OK"
        ("dragino/lht65", None, 2.53, "low"),
        ("dragino/lht65", None, 2.50, "critical"),
        ("dragino/lht65n", None, 2.45, "critical"),
        ("dragino/lse01", None, 2.45, None),  # no vendor levels: no verdict
        (None, None, None, None),
    ],
)
def test_battery_level(
    model: str | None, percent: float | None, volts: float | None, verdict: str | None
) -> None:
    b = battery_level(model, percent, volts)
    assert (b.verdict if b else None) == verdict
