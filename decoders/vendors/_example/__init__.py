"""The documented template decoder; see example.py."""

from decoders.vendors._example import example  # noqa: F401
