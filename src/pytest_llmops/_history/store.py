"""The history store: append a run's report, read the last runs back.

An ``llm_history`` value is a file path (an SQLite database, created on first use) or a
``postgresql://`` URL (a team database, through psycopg). Every write is one transaction that
first takes the database's write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory
lock), so concurrent writers (several CI jobs) queue, and the schema is created or upgraded
under that same lock.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import sqlalchemy as sa

from pytest_llmops._history import rows, schema

#: The advisory lock every PostgreSQL writer takes ("llmops" in ASCII).
_PG_LOCK = 0x6C6C6D6F7073
#: Seconds a writer waits for another one's SQLite transaction.
_SQLITE_WAIT_S = 60


class HistoryError(Exception):
    """The history cannot be used: unreachable, or written by a newer plugin. Says what to do."""


@dataclass(frozen=True)
class Run:
    """One stored run, with its per-metric, per-test and per-model rows."""

    id: int
    facts: dict[str, Any]
    metrics: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    models: list[dict[str, Any]]


def url_of(value: str, base: Path) -> str:
    """The SQLAlchemy URL of an ``llm_history`` value; a relative path is relative to ``base``."""
    if value.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + value.partition("://")[2]
    if "://" in value:
        raise HistoryError(
            f"{value.partition('://')[0]}:// databases are not supported: give a file path "
            "(SQLite) or a postgresql:// URL"
        )
    return f"sqlite:///{base / value}"


class HistoryStore:
    """A history database; open it with :func:`open_store`, ``close`` it when done."""

    def __init__(self, url: str, shown: str) -> None:
        self.shown = shown
        if url.startswith("sqlite:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_WAIT_S}, poolclass=sa.NullPool)
            sa.event.listen(self._engine, "connect", _sqlite_own_transactions)
            sa.event.listen(self._engine, "begin", _sqlite_begin_immediate)
        else:
            from pytest_llmops._optional import import_optional

            import_optional("psycopg", "postgres")
            self._engine = sa.create_engine(url, poolclass=sa.NullPool)

    def close(self) -> None:
        self._engine.dispose()

    def append(self, report: Mapping[str, Any]) -> int:
        """Store one run's report; its run id (runs are numbered in the order they were stored)."""
        run = rows.run_row(report)
        with self._writing() as connection:
            run_id = int(
                connection.execute(sa.insert(schema.runs).values(run).returning(schema.runs.c.id)).scalar_one()
            )
            for table, of in (
                (schema.metrics, rows.metric_rows),
                (schema.tests, rows.test_rows),
                (schema.models, rows.model_rows),
            ):
                values = [{"run_id": run_id, **row} for row in of(report)]
                if values:
                    connection.execute(sa.insert(table), values)
        return run_id

    def last_runs(self, count: int | None = None, *, tests: bool = True) -> list[Run]:
        """The last ``count`` runs (all without it), oldest first; without their ``tests`` rows
        when not needed (a run of 10,000 tests has as many)."""
        with self._connected() as connection:
            stored = self._version(connection)
        if stored is None:
            return []
        if stored < schema.SCHEMA_VERSION:
            with self._writing():  # an older plugin's database: upgraded before it is read
                pass
        with self._connected() as connection:
            query = sa.select(schema.runs).order_by(schema.runs.c.id.desc())
            facts = [dict(row._mapping) for row in connection.execute(query.limit(count) if count else query)]
            facts.reverse()
            ids = [fact["id"] for fact in facts]
            parts = {
                table.name: self._by_run(connection, table, ids) if tests or table is not schema.tests else {}
                for table in (schema.metrics, schema.tests, schema.models)
            }
        return [
            Run(
                fact["id"],
                fact,
                *(parts[table.name].get(fact["id"], []) for table in (schema.metrics, schema.tests, schema.models)),
            )
            for fact in facts
        ]

    @staticmethod
    def _by_run(connection: sa.Connection, table: sa.Table, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        grouped: dict[int, list[dict[str, Any]]] = {}
        if ids:
            for row in connection.execute(sa.select(table).where(table.c.run_id.in_(ids))):
                values = dict(row._mapping)
                grouped.setdefault(values.pop("run_id"), []).append(values)
        return grouped

    # -- the schema, under the write lock ------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """One transaction under the database's write lock, on a prepared schema."""
        with self._connected() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
            self.prepare(connection)
            yield connection

    @contextlib.contextmanager
    def _connected(self) -> Iterator[sa.Connection]:
        """A connection; a database that cannot be reached or used is a :class:`HistoryError`."""
        try:
            with self._engine.connect() as connection:
                yield connection
        except sa.exc.OperationalError as error:
            raise HistoryError(f"cannot use the history {self.shown}: {_reason(error)}") from None

    def _version(self, connection: sa.Connection) -> int | None:
        """The stored schema version (None: an empty database); refuses a newer one."""
        if not sa.inspect(connection).has_table(schema.version.name):
            return None
        stored = connection.execute(sa.select(schema.version.c.version)).scalar()
        if stored is not None and stored > schema.SCHEMA_VERSION:
            raise HistoryError(
                f"the history {self.shown} has schema version {stored}, written by a newer pytest-llmops; "
                f"this one reads up to version {schema.SCHEMA_VERSION}: upgrade pytest-llmops "
                "(or point llm_history elsewhere)"
            )
        return stored

    def prepare(self, connection: sa.Connection) -> None:
        """Create the tables of an empty database, or upgrade an older one, step by step."""
        stored = self._version(connection)
        if stored is None:
            schema.metadata.create_all(connection)
            connection.execute(sa.insert(schema.version).values(version=schema.SCHEMA_VERSION))
            return
        for step in range(stored, schema.SCHEMA_VERSION):
            schema.UPGRADES[step](connection)
        if stored < schema.SCHEMA_VERSION:
            connection.execute(sa.update(schema.version).values(version=schema.SCHEMA_VERSION))


def open_store(value: str, base: Path) -> HistoryStore:
    """The store an ``llm_history`` value names (shown in messages without its password)."""
    url = url_of(value, base)
    if url.startswith("sqlite:"):
        return HistoryStore(url, str(base / value))
    return HistoryStore(url, sa.make_url(url).render_as_string(hide_password=True).replace("+psycopg", ""))


def _reason(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)


def _sqlite_own_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver opens no transaction of its own


def _sqlite_begin_immediate(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading the schema
