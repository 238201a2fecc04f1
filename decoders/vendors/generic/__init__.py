"""Vendor-neutral payload formats: Cayenne LPP, SenML (CBOR and JSON)."""

from decoders.vendors.generic import cayenne_lpp, senml  # noqa: F401
