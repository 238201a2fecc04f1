"""Every vendor package, imported explicitly (greppable, reviewable; no plugin discovery).

Add a line here when you add a vendor package; tests/decoders/test_registry.py checks
that every decoder module is registered and has a vector file.
"""

from decoders.vendors import _example  # noqa: F401
from decoders.vendors import decentlab  # noqa: F401
from decoders.vendors import dragino  # noqa: F401
from decoders.vendors import elsys  # noqa: F401
from decoders.vendors import generic  # noqa: F401
from decoders.vendors import milesight  # noqa: F401
from decoders.vendors import nwave  # noqa: F401
from decoders.vendors import parametric  # noqa: F401
from decoders.vendors import sensecap  # noqa: F401
from decoders.vendors import terabee  # noqa: F401
