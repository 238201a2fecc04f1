"""Thresholds and marks the dashboards draw, with where each figure comes from.

Colour steps are ``(from value, colour)`` pairs, lowest first (``None`` = from -inf).
The "Probleme" panel of the network dashboard uses the same low-battery limits.
"""

from __future__ import annotations

Steps = tuple[tuple[float | None, str], ...]

#: battery in percent: red below 20 %, orange below 40 %
BATTERY_LOW_PERCENT = 20.0
BATTERY_PERCENT: Steps = ((None, "red"), (BATTERY_LOW_PERCENT, "orange"), (40.0, "green"))

#: battery in volts. The volt-only devices here (Dragino LHT65/LHT65N, LDDS75, LSN50) run
#: on one 3.6 V Li-SOCl₂ cell whose voltage stays flat until the end of its life; below
#: about 3.3 V the cell is nearly spent, below 3.0 V readings and radio become unreliable.
BATTERY_LOW_VOLTS = 3.0
BATTERY_VOLTS: Steps = ((None, "red"), (BATTERY_LOW_VOLTS, "orange"), (3.3, "green"))

#: CO₂ in indoor air, Umweltbundesamt (Ad-hoc-Arbeitsgruppe Innenraumrichtwerte,
#: Bundesgesundheitsblatt 2008, 51:1358-1369; UBA "Lüften in Schulen" 2017):
#: < 1000 ppm hygienisch unbedenklich, 1000-2000 ppm auffällig, > 2000 ppm inakzeptabel
CO2_UBA: Steps = ((None, "green"), (1000.0, "orange"), (2000.0, "red"))

#: frost: a dashed line at 0 °C, blue below
FROST: Steps = ((None, "blue"), (0.0, "green"))

#: parking occupancy in percent
OCCUPANCY: Steps = ((None, "green"), (70.0, "orange"), (90.0, "red"))

#: decoded share of uplinks, frame loss (network dashboard)
DECODED: Steps = ((None, "red"), (90.0, "orange"), (99.0, "green"))
LOSS: Steps = ((None, "green"), (1.0, "orange"), (5.0, "red"))

#: a device is silent when it sent nothing for this long (Probleme panel)
SILENT_AFTER = "6h"

#: colours of successive flood marks of a site (Meldestufe 1, 2, 3, 4 ...)
FLOOD_COLOURS = ("yellow", "orange", "red", "purple")


def flood_steps(marks: tuple[float, ...]) -> Steps:
    """Water-level steps from a site's marks (ascending), e.g. Meldestufen in m."""
    ordered = sorted(marks)
    colours = FLOOD_COLOURS + (FLOOD_COLOURS[-1],) * max(0, len(ordered) - len(FLOOD_COLOURS))
    return ((None, "green"), *((m, c) for m, c in zip(ordered, colours, strict=False)))
