"""IMBuildings people counters."""

from decoders.vendors.imbuildings import people_counter  # noqa: F401
