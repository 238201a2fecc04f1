"""Build an AlertService on a registry for the tests (real registry, real channels)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from alerts.notify import build_channels
from alerts.rules import parse_rules
from alerts.service import AlertConfig, AlertService
from alerts.state import AlertDb


def service(
    registry: Any,
    rules_yaml: str,
    channels: dict[str, str] | None = None,
    *,
    store: Any = None,
    holder: str = "test",
    **config: Any,
) -> AlertService:
    rules = parse_rules(rules_yaml, "test-rules.yaml")
    chans = build_channels({k: SecretStr(v) for k, v in (channels or {}).items()})
    rules.check_channels(list(chans))
    cfg = {"group_wait": 0.0, "retry_min": 10.0, "retry_max": 60.0, "lease_ttl": 60.0} | config
    return AlertService(
        rules,
        db=AlertDb(registry.engine),
        registry=registry,
        store=store,
        channels=chans,
        config=AlertConfig(**cfg),
        holder=holder,
    )
