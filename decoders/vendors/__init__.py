"""Every vendor package, imported explicitly (greppable, reviewable; no plugin discovery).

Add a line here when you add a vendor package; tests/decoders/test_catalog.py checks
that every decoder module is registered and has a vector file.
"""

from decoders.vendors import (
    _example,  # noqa: F401
    bosch,  # noqa: F401
    decentlab,  # noqa: F401
    dragino,  # noqa: F401
    elsys,  # noqa: F401
    generic,  # noqa: F401
    imbuildings,  # noqa: F401
    milesight,  # noqa: F401
    nwave,  # noqa: F401
    parametric,  # noqa: F401
    sensecap,  # noqa: F401
    terabee,  # noqa: F401
)
