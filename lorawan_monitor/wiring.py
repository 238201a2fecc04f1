"""Build the service's parts from settings (one place, used by every command)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from decoders.catalog import NATIVE, DecoderCatalog
from lorawan_monitor.errors import ConfigError, SinkUnavailableError
from lorawan_monitor.health import DependencyHealth, ServiceState
from lorawan_monitor.settings import Settings
from storage.base import TimeSeriesStore
from storage.registry_base import Registry

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine, ExceptionContext

    from storage.influx import InfluxStore

log = logging.getLogger(__name__)


def build_store(settings: Settings) -> TimeSeriesStore:
    """InfluxDB when ``LORAWAN_INFLUX__URL`` is set, else the embedded SQLite store."""
    if settings.influx.url:
        from storage.influx import InfluxStore

        store = InfluxStore(settings.influx)
        check_influx(store)
        return store
    from storage.sqlite import SqliteStore

    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(settings.storage.data_dir / "timeseries.db")


def build_registry(settings: Settings, *, state: ServiceState | None = None) -> Registry:
    """The device registry; its database's outages are logged once down, once back, and
    reported into ``state`` (the readiness of the service that uses it), when given."""
    from storage.registry import SqlRegistry

    dsn = settings.storage.registry_dsn()
    if dsn.startswith("sqlite"):
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        registry = SqlRegistry(dsn, journal_per_device=settings.storage.journal_per_device)
    except SinkUnavailableError as exc:
        raise ConfigError(
            f"registry database unreachable: {_first_line(exc)} — check "
            "LORAWAN_STORAGE__REGISTRY_URL and that the database runs"
        ) from exc
    watch_registry(registry.engine, state)
    return registry


def check_influx(store: InfluxStore) -> None:
    """Refuse an ``LORAWAN_INFLUX__URL`` that answers but is not InfluxDB (ConfigError).

    Nothing answering is no reason to refuse the start: the ingest buffers until InfluxDB
    is up, and says so once (ERROR) when its first write fails."""
    try:
        version = store.verify()
    except SinkUnavailableError as exc:
        log.debug("InfluxDB not reachable at start: %s", exc)
        return
    log.debug("InfluxDB %s at %s", version, store.settings.url)


def watch_registry(engine: Engine, state: ServiceState | None = None) -> None:
    """Log the registry database once when it fails and once when it answers again.

    SQLAlchemy's public engine events: ``handle_error`` sees every DB-API error (the
    connection ones included), ``after_cursor_execute`` every statement that worked."""
    from sqlalchemy import event

    health = DependencyHealth("registry", log, state)
    where = engine.url.render_as_string(hide_password=True)

    def failed(ctx: ExceptionContext) -> None:
        if ctx.is_disconnect or ctx.connection is None:  # not a bad statement: the database
            health.down(
                f"registry database {where} unavailable: {_first_line(ctx.original_exception)}"
                " — check LORAWAN_STORAGE__REGISTRY_URL and that the database runs"
            )

    def worked(*_: Any) -> None:
        if health.down_now:
            health.up(f"registry database {where} answers again")

    event.listen(engine, "handle_error", failed)
    event.listen(engine, "after_cursor_execute", worked)


def _first_line(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's SQL echo and background link."""
    while exc.__cause__ is not None and not str(exc).strip():
        exc = exc.__cause__
    orig = getattr(exc, "orig", None) or getattr(exc.__cause__, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__


def build_decoders(settings: Settings) -> DecoderCatalog:
    """Native decoders, plus the JavaScript codecs of ``LORAWAN_INGEST__CODECS_DIR``, plus
    the Device Repository checkout of ``LORAWAN_INGEST__DEVICE_REPOSITORY`` (lazily)."""
    registry = NATIVE
    if settings.ingest.codecs_dir is not None:
        from decoders.js import disabled_codecs, load_codecs

        registry = load_codecs(settings.ingest.codecs_dir, strict=settings.ingest.codecs_strict)
        from lorawan_monitor import metrics

        metrics.CODECS_DISABLED.set(len(disabled_codecs(registry)))
    if settings.ingest.device_repository is not None:
        from decoders.repository import with_repository

        registry = with_repository(registry, settings.ingest.device_repository)
        log.info("Device Repository codecs from %s", settings.ingest.device_repository)
    return registry


def import_devices_file(settings: Settings, registry: Registry) -> int:
    """Load ``LORAWAN_INGEST__DEVICES_FILE`` into the registry (validated; ConfigError if bad)."""
    path = settings.ingest.devices_file
    if path is None:
        return 0
    from storage.devices_file import load_devices_file, unknown_models

    rows = load_devices_file(path)
    for warning in unknown_models(rows, build_decoders(settings), name=str(path)):
        log.warning("%s", warning)
    registry.import_meta(rows)  # one transaction for the whole file
    log.info("imported %d devices from %s", len(rows), path)
    return len(rows)


def tune_gc() -> None:
    """Garbage-collector settings for the ingest hot path (measured: +9 % per worker).

    The pipeline allocates many short-lived objects and few cycles, so generation-0
    collections are made rarer, and the start-up heap (imports, settings) is frozen out
    of the collector's way. Costs ~10 MB of peak RSS."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def build_alerts(
    settings: Settings, registry: Registry, store: TimeSeriesStore | None, *, rules_file: Any = None
) -> Any:
    """The alert evaluator (``alerts.service.AlertService``, not started) or None when no
    rules file is configured or alerts are disabled. A bad rules file or channel URL is a
    ConfigError naming the file, the rule and the setting."""
    cfg = settings.alerts
    path = rules_file or cfg.rules_file
    if not cfg.enabled or path is None:
        return None
    from alerts.notify import build_channels
    from alerts.rules import load_rules
    from alerts.service import AlertConfig, AlertService
    from alerts.state import AlertDb

    rules = load_rules(path)
    rules.check_channels(list(cfg.channels))
    channels = build_channels(cfg.channels)
    engine = getattr(registry, "engine", None)
    db = AlertDb(engine) if engine is not None else AlertDb.open(settings.storage.registry_dsn())
    log.info("alerts: %d rules from %s, channels: %s", len(rules.rules), path, ", ".join(channels))
    return AlertService(
        rules,
        db=db,
        registry=registry,
        store=store,
        channels=channels,
        config=AlertConfig(
            interval=cfg.interval,
            group_wait=cfg.group_wait,
            retry_min=cfg.retry_min,
            retry_max=cfg.retry_max,
            lease_ttl=cfg.lease_ttl,
            timezone=cfg.timezone,
            language=cfg.language,
        ),
    )
