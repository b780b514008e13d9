"""The run history (``llm_history``): every suite here runs against SQLite and against a real
PostgreSQL server the tests start (``tests/postgres.py``); when that cannot start, its tests
ERROR with the reason.

pytester runs append runs, a test flips between them, and the stored rows are read back.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from postgres import PostgresServer

pytest_plugins = ["pytester"]

sa = pytest.importorskip("sqlalchemy", reason="the [history] extra (sqlalchemy) is a dev dependency")

ARGS = ("-p", "no:cacheprovider", "--llm-model", "echo", "--llm-record-mode", "off")

SUITE = """
from pathlib import Path
from pytest_llmops._results import Score

def test_steady(llm, llm_record):
    answer = llm.complete("hello there")
    llm_record.add_score(Score("exact", 1.0, 1.0, True))

def test_flips(llm, llm_record):
    answer = llm.complete("I can't help with that.")
    fails = (Path(__file__).parent / "flip").exists()
    llm_record.add_score(Score("rougeL", 0.2 if fails else 0.9, 0.5, not fails))
    assert not fails
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """One PostgreSQL server for the session (each test gets a database of its own)."""
    with PostgresServer() as url:
        yield url


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An ``llm_history`` value naming an empty database: a file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "history" / "runs.sqlite")
    server: str = request.getfixturevalue("postgres")
    name = f"history_{next(_databases)}"
    engine = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server.rpartition("/")[0] + "/" + name


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def stored(history: str, base: Path) -> list[Any]:
    from pytest_llmops._history.store import open_store

    store = open_store(history, base)
    try:
        return store.last_runs()
    finally:
        store.close()


def test_each_run_is_appended_with_its_tests_models_and_provenance(suite: pytest.Pytester, history: str) -> None:
    subprocess.run(["git", "init", "-q", "-b", "trunk"], cwd=suite.path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=suite.path,
        check=True,
    )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=suite.path, capture_output=True, text=True).stdout.strip()

    first = suite.runpytest(*ARGS, f"--llm-history={history}")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["pytest-llmops: run 1 appended to the history *"])
    suite.path.joinpath("flip").touch()
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=1, failed=1)

    runs = stored(history, suite.path)
    assert [run.id for run in runs] == [1, 2]
    one, two = runs
    assert (one.facts["passed"], one.facts["failed"], two.facts["passed"], two.facts["failed"]) == (2, 0, 1, 1)
    assert one.facts["git_commit"] == commit and one.facts["git_branch"] == "trunk"
    assert one.facts["settings_digest"] == two.facts["settings_digest"] and len(one.facts["settings_digest"]) == 16
    assert {t["nodeid"].rpartition("::")[2]: t["outcome"] for t in two.tests} == {
        "test_steady": "passed",
        "test_flips": "failed",
    }
    assert json.loads(next(t for t in two.tests if t["nodeid"].endswith("flips"))["scores"]) == {"rougeL": 0.2}
    assert {m["metric"]: m["mean"] for m in two.metrics} == {"exact": 1.0, "rougeL": 0.2}
    [model] = two.models
    assert (model["spec"], model["calls"], model["live_calls"], model["refusals"]) == ("echo", 2, 2, 1)
    assert model["latency_p95"] >= model["latency_p50"] >= 0 and json.loads(model["served_models"]) == ["echo"]


def test_a_changed_setting_changes_the_digest(suite: pytest.Pytester, tmp_path: Path) -> None:
    history = str(tmp_path / "runs.sqlite")
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    suite.runpytest(*ARGS, f"--llm-history={history}", "--llm-max-tokens", "7").assert_outcomes(passed=2)
    suite.runpytest(*ARGS, f"--llm-history={history}", "--llm-report-json", "r.json").assert_outcomes(passed=2)
    digests = [run.facts["settings_digest"] for run in stored(history, suite.path)]
    assert digests[0] != digests[1] and digests[0] == digests[2]  # where reports go is no setting of results


def test_only_the_xdist_controller_writes(suite: pytest.Pytester, history: str) -> None:
    suite.runpytest_subprocess(*ARGS, f"--llm-history={history}", "-n", "2").assert_outcomes(passed=2)
    [run] = stored(history, suite.path)
    assert run.facts["total"] == 2 and len(run.tests) == 2


def test_collect_only_keeps_no_run(suite: pytest.Pytester, history: str) -> None:
    suite.runpytest(*ARGS, f"--llm-history={history}", "--collect-only")
    assert stored(history, suite.path) == []


def test_a_history_of_a_newer_plugin_is_refused_before_any_test(suite: pytest.Pytester, history: str) -> None:
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    from pytest_llmops._history import schema
    from pytest_llmops._history.store import url_of

    engine = sa.create_engine(url_of(history, suite.path))
    with engine.begin() as connection:
        connection.execute(sa.update(schema.version).values(version=schema.SCHEMA_VERSION + 1))
    engine.dispose()
    result = suite.runpytest(*ARGS, f"--llm-history={history}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*llm_history: the history * has schema version {schema.SCHEMA_VERSION + 1}, "
            "written by a newer pytest-llmops*upgrade pytest-llmops*"
        ]
    )
    assert len(stored_rows(history, suite.path)) == 1  # untouched


def test_a_history_of_an_older_plugin_is_upgraded_in_place(suite: pytest.Pytester, history: str) -> None:
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    from pytest_llmops._history import schema
    from pytest_llmops._history.store import url_of

    # The database as version 1 left it: its test rows had no reruns.
    engine = sa.create_engine(url_of(history, suite.path))
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE llmops_tests DROP COLUMN reruns"))
        connection.execute(sa.update(schema.version).values(version=1))
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    with engine.connect() as connection:
        assert connection.execute(sa.select(schema.version.c.version)).scalar_one() == schema.SCHEMA_VERSION
    engine.dispose()
    old, new = stored(history, suite.path)
    assert [t["reruns"] for t in old.tests] == [0, 0] and [t["reruns"] for t in new.tests] == [0, 0]
    assert old.facts["passed"] == new.facts["passed"] == 2


def stored_rows(history: str, base: Path) -> list[Any]:
    from pytest_llmops._history.store import url_of

    engine = sa.create_engine(url_of(history, base))
    with engine.connect() as connection:
        rows = list(connection.execute(sa.text("SELECT id FROM llmops_runs")))
    engine.dispose()
    return rows


def test_an_unreachable_or_unknown_database_is_a_usage_error(suite: pytest.Pytester) -> None:
    from servers import free_port

    result = suite.runpytest(*ARGS, "--llm-history", f"postgresql://someone:s3cret@127.0.0.1:{free_port()}/runs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*llm_history: cannot use the history postgresql://someone:***@127.0.0.1:*/runs: *"])
    assert "s3cret" not in result.stderr.str()
    result = suite.runpytest(*ARGS, "--llm-history", "mysql://db/runs")
    result.stderr.fnmatch_lines(
        ["*llm_history: mysql:// databases are not supported: give a file path (SQLite) or a postgresql:// URL*"]
    )


WRITER = """
import sys
from pathlib import Path
from pytest_llmops._history.store import open_store

report = {
    "run": {"created": "2026-01-01T00:00:00+00:00", "model": "echo"},
    "summary": {"tests": {"total": 1, "passed": 1, "failed": 0, "error": 0, "skipped": 0, "xfailed": 0},
                "calls": {"total": 0, "live": 0}, "cost_usd": {"total": 0.0}, "tokens": {"total": 0},
                "latency_s": {"p95": None}, "metrics": {}},
    "tests": [{"nodeid": f"t.py::writer{sys.argv[2]}_{n}", "outcome": "passed", "models": [], "prompts": [],
               "scores": [], "calls": []} for n in range(20)],
}
store = open_store(sys.argv[1], Path.cwd())
for _ in range(5):
    store.append(report)
store.close()
"""


def test_concurrent_writers_never_corrupt_it(history: str, tmp_path: Path) -> None:
    """Four processes, from an empty database on (the schema's creation races too), five runs each."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [subprocess.Popen([sys.executable, str(script), history, str(n)], cwd=tmp_path) for n in range(4)]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 4
    runs = stored(history, tmp_path)
    assert sorted(run.id for run in runs) == list(range(1, 21))
    for run in runs:  # each run holds its own 20 tests, all from one writer
        assert len(run.tests) == 20 and len({t["nodeid"].partition("_")[0] for t in run.tests}) == 1


HOSTILE_BRANCH = "feature/<img src=x onerror=alert(1)>\x1b[31m"


def test_trends_as_a_table_and_a_page(
    suite: pytest.Pytester,
    history: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from html_check import LiveElements, chromium_dom, chromium_evaluate

    from pytest_llmops._cli import main

    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef")
    monkeypatch.setenv("GITHUB_HEAD_REF", HOSTILE_BRANCH)
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    suite.path.joinpath("flip").touch()
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=1, failed=1)
    suite.path.joinpath("flip").unlink()
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    capsys.readouterr()

    page = tmp_path / "out" / "trends.html"
    monkeypatch.chdir(suite.path)  # a relative SQLite path is relative to the current directory
    assert main(["history", "--db", history, "--last", "2", "--html", str(page)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "\x1b" not in "".join(lines)
    header, second, third = (re.split(r"\s{2,}", line) for line in lines[:3])
    assert header == ["run", "created", "commit", "branch", "tests", "pass", "cost", "p95", "exact", "rougeL"]
    assert (second[0], second[2], second[3]) == ("2", "0123456789", "feature/<img src=x onerror=alert(1)>\\x1b[31m")
    assert (second[5], second[-2:], third[0], third[5], third[-2:]) == ("50%", ["1", "0.2"], "3", "100%", ["1", "0.9"])
    assert "model echo" in lines and f"trends of 2 runs written to {page}" in lines

    text = page.read_text("utf-8")
    elements = LiveElements(text)
    assert not [tag for tag, _ in elements.tags if tag in ("script", "img", "a", "iframe", "object", "embed")]
    assert not [a for _, a in elements.tags if any(name.startswith("on") for name in a)]
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;\\x1b[31m" in text
    dom = chromium_dom(page, tmp_path)
    for caption in ("pass rate", "mean rougeL", "echo: refusal rate", "echo: p95 latency"):
        assert f"<figcaption>{caption} (last: " in dom
    assert "<figcaption>mean rougeL (last: 0.9)</figcaption>" in dom
    shown = chromium_evaluate(
        page,
        tmp_path,
        "({figures: document.querySelectorAll('figure svg').length,"
        " points: document.querySelectorAll('circle').length,"
        " fits: document.documentElement.scrollWidth <= window.innerWidth})",
        width=800,
    )
    assert shown["figures"] >= 6 and shown["points"] >= 12 and shown["fits"]


def test_trends_of_an_empty_or_missing_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_llmops._cli import main

    assert main(["history", "--db", str(tmp_path / "none.sqlite")]) == 0
    assert capsys.readouterr().out == "no runs in the history yet\n"
    assert main(["history", "--db", "mysql://x/y"]) == 1
    assert "mysql:// databases are not supported" in capsys.readouterr().out


def test_a_test_that_passed_and_failed_unchanged_is_labelled_flaky(suite: pytest.Pytester, history: str) -> None:
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=2)
    suite.path.joinpath("flip").touch()
    suite.runpytest(*ARGS, f"--llm-history={history}").assert_outcomes(passed=1, failed=1)
    suite.path.joinpath("flip").unlink()
    result = suite.runpytest(
        *ARGS, f"--llm-history={history}", "--llm-report-json", "r.json", "--llm-report-md", "r.md"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["flaky: test_suite.py::test_flips: passed 2 and failed 1 of the last 3 runs with the same prompts and models"]
    )
    assert "flaky: test_suite.py::test_steady" not in result.stdout.str()
    flaky = json.loads((suite.path / "r.json").read_text())["flaky"]
    assert flaky == [{"nodeid": "test_suite.py::test_flips", "reason": "history", "runs": 3, "passed": 2, "failed": 1}]
    assert "flaky: test" in (suite.path / "r.md").read_text()
    # Only the last run (passed) and this one count now: not flaky.
    result = suite.runpytest(*ARGS, f"--llm-history={history}", "--llm-flaky-runs", "1")
    assert "flaky:" not in result.stdout.str()
    # Another model is another test: its history does not count.
    result = suite.runpytest(*ARGS, f"--llm-history={history}", "--llm-model", "echo:other")
    assert "flaky:" not in result.stdout.str()
