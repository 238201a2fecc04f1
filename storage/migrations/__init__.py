"""The registry schema as the code sees it, and the tools to bring a database to it.

The migrations in ``versions/`` own the schema (alembic; ``upgrade()`` runs them up to
head). The tables below mirror the head revision for SQLAlchemy Core queries; a new
column means a new revision here *and* a column below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine

from lorawan_monitor.errors import ConfigError, SinkUnavailableError

MIGRATIONS = Path(__file__).parent


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both dialects (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FastJson(TypeDecorator[Any]):
    """JSON; on SQLite serialised here with orjson (the generic JSON type is slower)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(Text() if dialect.name == "sqlite" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return _json(value) if value is not None and dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return orjson.loads(value) if isinstance(value, str | bytes) else value


_md = MetaData()
_TS = UtcDateTime()
# The schema as the migrations leave it, column for column and index for index
# (tests/storage/registry/test_contract.py compares the two with alembic's compare_metadata, #12).
_S = String
devices = Table(
    "devices",
    _md,
    Column("device_key", _S(200), primary_key=True),
    Column("dev_eui", _S(16), index=True),
    Column("device_id", _S(200), nullable=False, server_default=""),
    Column("application", _S(200), nullable=False, server_default=""),
    Column("source", _S(20), nullable=False, server_default=""),
    Column("device_name", _S(200)),
    Column("device_profile", _S(200)),
    Column("uplink_model_id", _S(100)),
    Column("name", _S(200)),
    Column("category", _S(20), index=True),
    Column("site", _S(200), index=True),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("model_override", _S(100)),
    Column("expected_interval_s", Integer),
    Column("public", Boolean),
    Column("notes", Text),
    Column("variables", FastJson),
    Column("tags", FastJson),
    Column("first_seen", _TS),
    Column("last_seen", _TS),
    Column("uplink_count", BigInteger, nullable=False, server_default="0"),
    Column("last_f_cnt", BigInteger),
    Column("last_uplink_id", _S(200)),
    Column("fcnt_missed", BigInteger, nullable=False, server_default="0"),
    Column("fcnt_resets", Integer, nullable=False, server_default="0"),
    Column("last_status", _S(20)),
    Column("last_error", Text),
    Column("decoder", _S(100)),
    Column("last_battery", Float),
    Column("last_battery_at", _TS),
    Column("last_battery_voltage", Float),
    Column("rssi", Float),
    Column("snr", Float),
    Column("spreading_factor", Integer),
    Column("gateway_count", Integer),
    Column("last_readings", FastJson),
    Column("overdue_after", _TS, index=True),
    Column("pending_error_uplink_id", _S(200)),
    Column("pending_error", Text),
    Column("learned_interval_s", Integer),
    Column("interval_gaps", FastJson),
    Column("last_readings_at", _TS),
    Column("source_name", _S(63)),
)
journal = Table(
    "journal",
    _md,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("device_key", _S(200), nullable=False),
    Column("received_at", _TS, nullable=False),
    Column("f_port", Integer, nullable=False),
    Column("f_cnt", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("status", _S(20), nullable=False),
    Column("model_id", _S(100)),
    Column("error", Text),
    Column("decoded", FastJson),
    Column("gateways", FastJson),
    Column("uplink_id", _S(200)),
    Index("ux_journal_device_time_uplink", "device_key", "received_at", "uplink_id", unique=True),
)
#: the registry's tables as code sees them (alembic's compare_metadata target)
metadata = _md
META_FIELDS = (
    "name",
    "category",
    "site",
    "latitude",
    "longitude",
    "model_override",
    "expected_interval_s",
    "public",
    "notes",
    "variables",
    "tags",
)
#: status columns written back after a batch (everything but the key and metadata)
STATUS_COLS = tuple(
    c.name for c in devices.columns if c.name != "device_key" and c.name not in META_FIELDS
)
#: execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``
WRITE = "registry_write"


@contextmanager
def transaction(
    engine: Engine, *, write: bool = False, what: str = "registry"
) -> Iterator[Connection]:
    """One transaction on the registry database: a connection, marked as a writer when
    ``write`` (SQLite then begins ``IMMEDIATE``), committed on success, rolled back on an
    exception. A database error becomes ``SinkUnavailableError`` starting with ``what``.
    The registry and the alert tables (``alerts/state.py``) both use it."""
    try:
        with engine.connect() as conn:
            if write:
                conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn
    except SQLAlchemyError as exc:
        raise SinkUnavailableError(f"{what}: {exc}") from exc


def _json(obj: Any) -> str:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


# -- statements run through the DB-API (the registry's hot path, #2) ------------------------


_SQLITE_TS = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # SQLAlchemy's DATETIME storage format
_JSON_OPTS = orjson.OPT_NON_STR_KEYS


def _sqlite_ts(v: datetime | None) -> str | None:
    """What :class:`UtcDateTime` stores on SQLite: naive UTC text with microseconds."""
    if v is None:
        return None
    if v.tzinfo is not UTC and v.tzinfo is not None:
        v = v.astimezone(UTC)
    return _SQLITE_TS % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_json(value: Any) -> str | None:
    """:func:`_json` (inlined), ``None`` stays SQL NULL."""
    if value is None:
        return None
    return orjson.dumps(value, default=str, option=_JSON_OPTS).decode()


@dataclass(frozen=True, slots=True)
class RawBinds:
    """Parameters for statements run with ``exec_driver_sql``, converted in Python exactly
    as :class:`UtcDateTime` and :class:`FastJson` bind them on the dialect: the stored
    values are the same as through SQLAlchemy's parameter processing, minus its cost."""

    #: the ``UtcDateTime`` parameter for a datetime (``None`` stays ``None``)
    ts: Callable[[datetime | None], Any]
    #: the ``FastJson`` parameter for a JSON value (on PostgreSQL ``None`` is JSON null)
    js: Callable[[Any], Any]


def raw_binds(dialect: Dialect) -> RawBinds:
    if dialect.name == "sqlite":
        return RawBinds(ts=_sqlite_ts, js=_sqlite_json)
    from psycopg.types.json import Json  # dumps with the engine's json_serializer

    return RawBinds(ts=_utc, js=Json)


_PYFORMAT = re.compile(r"%\((\w+)\)s")


def positional(stmt: ClauseElement, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """``stmt`` compiled once for ``dialect`` with positional parameters (``?`` on SQLite,
    ``%s`` on psycopg, keeping SQLAlchemy's casts), and the parameter names in order."""
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    sql = str(compiled)
    if compiled.positiontup is not None:
        return sql, tuple(compiled.positiontup)
    return _PYFORMAT.sub("%s", sql), tuple(_PYFORMAT.findall(sql))


def result_processors(
    table: Table, dialect: Dialect, description: Sequence[Sequence[Any]]
) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """(column, processor) for the columns of ``table`` as read by a DB-API cursor with
    ``description`` (its first item is the column name, the second the type code): what
    SQLAlchemy applies to each value (``None``: the value is used as it comes)."""
    out = []
    for d in description:
        typ = table.columns[d[0]].type.dialect_impl(dialect)
        out.append((str(d[0]), typ.result_processor(dialect, d[1])))
    return tuple(out)


def overdue_after(last_seen: datetime | None, interval: int | None) -> datetime | None:
    return last_seen + timedelta(seconds=2 * interval) if last_seen and interval else None


def script_heads() -> frozenset[str] | None:
    """The head revisions of ``versions/``, read from the files' ``revision`` and
    ``down_revision`` lines without importing alembic; None when a file does not say them
    plainly (a merge's tuple, say): then only alembic knows."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("v*.py"):
        body = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision = "([^"]+)"$', body, re.M)
        down = re.search(r'^down_revision = (?:None|"([^"]+)")$', body, re.M)
        if rev is None or down is None:
            return None
        revisions.add(rev[1])
        if down[1]:
            downs.add(down[1])
    heads = frozenset(revisions - downs)
    return heads or None


def at_head(engine: Engine) -> bool:
    """True when the database's ``alembic_version`` is exactly the scripts' head."""
    heads = script_heads()
    if heads is None:
        return False
    try:
        with engine.connect() as conn:
            stamped = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:  # no table yet (a new database) or not readable: alembic decides
        return False
    return stamped == heads


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the registry migrations up to ``revision`` on ``engine``.

    A database already at the head is left alone without importing alembic (~10 MB of
    RSS in every ingest worker, #19); any other state goes through alembic."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def safe_url(dsn: str) -> str:
    """``dsn`` for messages: the password masked."""
    try:
        return make_url(dsn).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show nothing of it
        return "<invalid URL>"


def create_registry_engine(dsn: str) -> Engine:
    """An engine for ``dsn``; SQLite gets WAL (checkpointed every 10,000 pages), a busy
    timeout and cross-thread use."""
    try:
        url = make_url(dsn)
    except Exception as exc:  # sqlalchemy raises ArgumentError (and ValueError for ports)
        raise ConfigError("LORAWAN_STORAGE__REGISTRY_URL is not a database URL") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the installed driver
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(
                url, json_serializer=_json, json_deserializer=orjson.loads, pool_pre_ping=True
            )
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(
                f"registry database {safe_url(dsn)}: {exc} (use sqlite:///path or "
                "postgresql+psycopg://user:password@host/database)"
            ) from exc
    memory = url.database in (None, "", ":memory:")
    if not memory:
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        json_serializer=_json,
        json_deserializer=orjson.loads,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        if not memory:
            # checkpoint every ~40 MB of WAL instead of 4 MB: ingest rewrites the same
            # index and device pages batch after batch, and a page is copied back once per
            # checkpoint, with one fsync pair (#2: about 10 % of the write cost)
            cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # write transactions take the write lock up front: read-modify-write stays atomic
        write = conn.get_execution_options().get(WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
