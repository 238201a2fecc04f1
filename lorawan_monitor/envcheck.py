"""Unknown ``LORAWAN_*`` environment variables are a start-up error, with the closest name.

pydantic-settings ignores environment variables it has no field for, so a typo
(``LORAWAN_INFLUXDB__URL``) silently leaves the default in place: SQLite instead of
InfluxDB, and an empty Grafana. The valid names are derived from the settings models
themselves (every field, flattened with ``__``, nested models as a whole too), never
from a hand-kept list, so new settings are valid the moment they exist. Called by the
CLI (which sits above every package) before any command runs.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterator, Mapping

from pydantic import BaseModel

from lorawan_monitor.errors import ConfigError

PREFIX = "LORAWAN_"

#: ``LORAWAN_*`` variables read outside the settings models
OTHER_VARIABLES = {
    "LORAWAN_CONFIG_FILE": "the optional YAML settings file (lorawan_monitor/settings.py)",
    "LORAWAN_IMAGE_TAG": "tag of the image docker-compose builds (docker-compose.yml)",
    # set by `ingest --workers N`'s supervisor for its workers (lorawan_monitor/supervisor.py)
    "LORAWAN_WORKER_NAME": "a worker's name in its log lines (set by the supervisor)",
    "LORAWAN_WORKER_INDEX": "a worker's number 1..N: which sources it serves (LORAWAN_SOURCES)",
    "LORAWAN_SUPERVISOR_FD": "the pipe a worker watches to die with its supervisor",
    "LORAWAN_INGEST_DRAIN_TOPICS": "the topics a draining retired worker leaves",
    "LORAWAN_INGEST_DRAIN_IN_ROOT": "a drain that runs in the supervisor's data dir",
}


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (``X``, ``X | None``, ``Optional[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return []


def _is_mapping(annotation: object) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)


def setting_names(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, bool]]:
    """``(NAME, open)`` for every field of ``model`` and its nested models; ``open`` when
    deeper names are valid too (a dict field takes ``NAME__<key>``)."""
    for name, info in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        yield env, _is_mapping(info.annotation)
        for sub in _models(info.annotation):
            yield from setting_names(sub, f"{env}__")


def _all_models() -> list[tuple[type[BaseModel], str]]:
    from lorawan_monitor.settings import Settings
    from opendata.config import OpenDataSettings

    return [(Settings, PREFIX), (OpenDataSettings, f"{PREFIX}OPENDATA__")]


def valid_names() -> tuple[set[str], set[str]]:
    """(exact names, prefixes under which any name is valid)."""
    exact, open_prefixes = set(OTHER_VARIABLES), set()
    for model, prefix in _all_models():
        for name, is_open in setting_names(model, prefix):
            exact.add(name)
            if is_open:
                open_prefixes.add(f"{name}__")
    exact.add(f"{PREFIX}OPENDATA")  # the OpenData block has no field of its own in Settings
    return exact, open_prefixes


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per ``LORAWAN_*`` variable that is no setting, with the closest name."""
    exact, open_prefixes = valid_names()
    problems = []
    for key in sorted(environ):
        name = key.upper()  # pydantic-settings reads environment names case-insensitively
        if not name.startswith(PREFIX) or name in exact:
            continue
        if any(name.startswith(p) for p in open_prefixes):
            continue
        # compared without the common prefix, which would make any two names look alike
        tails = {n[len(PREFIX) :]: n for n in exact}
        close = difflib.get_close_matches(name[len(PREFIX) :], sorted(tails), n=1, cutoff=0.7)
        hint = (
            f"did you mean {tails[close[0]]}?"
            if close
            else "see .env.example or `lorawan-monitor settings` for the valid names"
        )
        problems.append(f"{key} is not a setting — {hint}")
    return problems


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError listing every unknown ``LORAWAN_*`` variable."""
    problems = unknown_variables(os.environ if environ is None else environ)
    if problems:
        raise ConfigError("unknown environment variables:\n  " + "\n  ".join(problems))
