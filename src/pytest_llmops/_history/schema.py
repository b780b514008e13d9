"""The history database's tables (SQLAlchemy Core) and their version.

Bump :data:`SCHEMA_VERSION` when the tables change, and add the step from the previous version
to :data:`UPGRADES`: a newer plugin upgrades an older database in place; an older plugin refuses
a newer one (it cannot know what its rows mean).
"""

from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa

SCHEMA_VERSION = 2

metadata = sa.MetaData()

version = sa.Table("llmops_schema", metadata, sa.Column("version", sa.Integer, nullable=False))

runs = sa.Table(
    "llmops_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_branch", sa.Text),
    sa.Column("settings_digest", sa.String(64)),
    sa.Column("model", sa.Text),
    sa.Column("record_mode", sa.String(16)),
    *(
        sa.Column(name, sa.Integer, nullable=False)
        for name in ("total", "passed", "failed", "error", "skipped", "xfailed")
    ),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("live_calls", sa.Integer, nullable=False),
    sa.Column("cost_usd", sa.Float),
    sa.Column("tokens", sa.Float),
    sa.Column("latency_p95", sa.Float),
)


def _of_run(name: str, *columns: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("llmops_runs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        *columns,
    )


metrics = _of_run(
    "llmops_metrics",
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("passed", sa.Integer, nullable=False),
    sa.Column("mean", sa.Float),
)

tests = _of_run(
    "llmops_tests",
    sa.Column("nodeid", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("duration_s", sa.Float),
    sa.Column("models", sa.Text, nullable=False),  # JSON lists and objects, as text
    sa.Column("prompt_versions", sa.Text, nullable=False),
    sa.Column("scores", sa.Text, nullable=False),
    # Version 2: failed attempts run again (pytest-rerunfailures) before the test's outcome.
    sa.Column("reruns", sa.Integer, nullable=False, server_default="0"),
)

models = _of_run(
    "llmops_models",
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("backend", sa.Text, nullable=False),
    *(
        sa.Column(name, sa.Integer, nullable=False)
        for name in ("calls", "live_calls", "attempts", "failed_attempts", "retries", "failed_calls", "refusals")
    ),
    *(
        sa.Column(name, sa.Float)
        for name in ("prompt_tokens", "completion_tokens", "cost_usd", "latency_p50", "latency_p95")
    ),
    sa.Column("served_models", sa.Text, nullable=False),
    sa.Column("fingerprints", sa.Text, nullable=False),
)


def _add_reruns(connection: sa.Connection) -> None:
    """Version 1 -> 2: each test row gains its reruns (0 for the runs stored before)."""
    connection.execute(sa.text("ALTER TABLE llmops_tests ADD COLUMN reruns INTEGER NOT NULL DEFAULT 0"))


#: version -> the step that upgrades a database of that version to the next one.
UPGRADES: dict[int, Callable[[sa.Connection], None]] = {1: _add_reruns}
