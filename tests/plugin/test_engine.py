"""The run engine's seams: ERRORs counted as errors everywhere (JUnit included), the hook that
customises dataset clients, the xdist channel, and an import that changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from typing import Callable

import junitparser
import pytest
from servers import ScriptedServer

from pytest_llmops._plugin.run_rule import RunRule
from pytest_llmops._plugin.xdist import CHANNEL, XdistChannel

Start = Callable[..., ScriptedServer]


def test_a_junit_consumer_counts_call_phase_model_errors_as_errors(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    server = scripted_server(
        lambda body: (
            (400, {"error": {"message": "model says no"}}) if "hello" in body["messages"][-1]["content"] else "fine"
        )
    )
    pytester.makepyfile(
        test_suite="""
        def test_error(llm):
            llm.complete("hello")

        def test_failure():
            assert 1 == 2

        def test_fine(llm):
            assert llm.complete("fine").text == "fine"
    """
    )
    flags = [
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-max-retries",
        "0",
        "-p",
        "no:cacheprovider",
        "--junitxml",
        "junit.xml",
        "--llm-report-json",
        "r.json",
    ]
    result = pytester.runpytest(*flags)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    xml = junitparser.JUnitXml.fromfile(str(pytester.path / "junit.xml"))
    suite = next(iter(xml))
    assert (suite.tests, suite.failures, suite.errors) == (3, 1, 1)
    results = {case.name: [type(r).__name__ for r in case.result] for case in suite}
    assert results == {"test_error": ["Error"], "test_failure": ["Failure"], "test_fine": []}
    summary = json.loads((pytester.path / "r.json").read_text())["summary"]["tests"]
    assert (summary["error"], summary["failed"], summary["passed"]) == (1, 1, 1)
    # The one-line reason by default; the traceback when the user asks for it.
    result.stdout.fnmatch_lines(["ModelCallError: openai:scripted at * answered HTTP 400: model says no"])
    assert "Traceback" not in result.stdout.str() and "test_suite.py:2" not in result.stdout.str()
    long = pytester.runpytest(*flags, "--tb=long")
    long.assert_outcomes(passed=1, failed=1, errors=1)
    long.stdout.fnmatch_lines(['*llm.complete("hello")*', "*ModelCallError: openai:scripted at * answered HTTP 400*"])


def test_the_case_client_hook_reaches_the_prefetched_calls(pytester: pytest.Pytester) -> None:
    (pytester.path / "cases.jsonl").write_text('{"id": "a", "input": "one"}\n{"id": "b", "input": "two"}\n')
    pytester.makeconftest("""
        import pytest

        class Seen:
            def after(self, request, completion):
                with open("seen.txt", "a") as seen:
                    seen.write(completion.text + "\\n")

        @pytest.fixture
        def llm(llm):  # an override of `llm`: dataset cases never see it
            raise AssertionError("not used by cases")

        def pytest_llmops_case_client(item, llm):
            return llm.with_observers(Seen())
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.llm_dataset("cases.jsonl")
        def test_case(case):
            assert case.output.text == case.inputs["input"]
    """)
    pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off").assert_outcomes(passed=2)
    assert sorted((pytester.path / "seen.txt").read_text().split()) == ["one", "two"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_finished_test_keeps_no_state_alive_and_its_record_reaches_the_report(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """What a test carried is dropped with its teardown report, the controller's reports hold
    no second copy of its record (a run of thousands keeps one record per test), and none is
    left once the plugin is unconfigured, when pytest's final garbage collections walk the heap."""
    pytester.makeconftest("""
        import gc
        import json
        import pytest
        from pytest_llmops._plugin import keys

        def pytest_configure(config):
            def count_records():  # a cleanup: after every unconfigure hook, before pytest's collections
                alive = sum(1 for o in gc.get_objects() if type(o) is dict and isinstance(o.get("calls"), list))
                with open("alive.json", "w") as out:
                    json.dump(alive, out)
            if not hasattr(config, "workerinput"):
                config.add_cleanup(count_records)

        KEYS = {"record": keys.RECORD, "recordings": keys.RECORDINGS, "use": keys.SNAPSHOT_USE}
        SEEN = []

        @pytest.hookimpl(trylast=True)
        def pytest_runtest_teardown(item):
            SEEN.append((item, [name for name, key in KEYS.items() if key in item.stash]))

        def pytest_runtest_logfinish(nodeid):
            for item, carried in SEEN:
                if item.nodeid == nodeid:
                    left = [name for name, key in KEYS.items() if key in item.stash]
                    with open(f"stash-{item.name}.json", "w") as out:
                        json.dump({"during": carried, "after": left}, out)

        def pytest_terminal_summary(terminalreporter):
            kept = [r.nodeid for reports in terminalreporter.stats.values() for r in reports
                    if hasattr(r, "llmops_record")]
            with open("kept.json", "w") as out:
                json.dump(kept, out)
    """)
    pytester.makepyfile("""
        def test_one(llm, llm_record):
            assert llm.complete("first").text == "first"

        def test_two(llm):
            assert llm.complete("second").text == "second"
    """)
    result = pytester.runpytest_subprocess("--llm-model", "echo", "--llm-report-json", "r.json", *workers)
    result.assert_outcomes(passed=2)
    if not workers:  # the stash lives in the process that ran the test
        for name in ("test_one", "test_two"):
            stash = json.loads((pytester.path / f"stash-{name}.json").read_text())
            assert "record" in stash["during"] and "recordings" in stash["during"]
            assert stash["after"] == []
    assert json.loads((pytester.path / "kept.json").read_text()) == []
    assert json.loads((pytester.path / "alive.json").read_text()) == 0
    tests = json.loads((pytester.path / "r.json").read_text())["tests"]
    assert [[call["text"] for call in test["calls"]] for test in tests] == [["first"], ["second"]]


@pytest.mark.parametrize("reader", ["none", "summary hook", "a model call"])
def test_the_run_report_is_built_only_when_something_reads_it(pytester: pytest.Pytester, reader: str) -> None:
    conftest = """
        import sys

        def pytest_unconfigure(config):
            with open("built.txt", "w") as out:
                out.write(str("pytest_llmops._report.data" in sys.modules))
    """
    if reader == "summary hook":
        conftest += """
        def pytest_llmops_run_summary(summary, config):
            with open("summary.txt", "w") as out:
                out.write(str(summary["summary"]["tests"]["passed"]))
    """
    pytester.makeconftest(conftest)
    body = "llm.complete('hi')" if reader == "a model call" else "pass"
    pytester.makepyfile(f"""
        def test_plain({"llm" if reader == "a model call" else ""}):
            {body}

        def test_other():
            pass
    """)
    result = pytester.runpytest_subprocess("--llm-model", "echo", "--llm-record-mode", "off")
    result.assert_outcomes(passed=2)
    assert (pytester.path / "built.txt").read_text() == str(reader != "none")
    if reader == "summary hook":
        assert (pytester.path / "summary.txt").read_text() == "2"
    assert ("pytest-llmops" in result.stdout.str()) == (reader == "a model call")


def test_a_worker_reported_down_twice_is_merged_once() -> None:
    rule = RunRule(types.SimpleNamespace(args=[]))  # type: ignore[arg-type]
    session = types.SimpleNamespace(worker_parts={}, rule=rule, worker_input=lambda: {"budget_ledger": "/tmp/l"})
    channel = XdistChannel(session)  # type: ignore[arg-type]
    node = types.SimpleNamespace(
        workerinput={"workerid": "gw0"},
        workeroutput={CHANNEL: {"calls": {"attempts": 3}, "selection": {"deselected": ["t.py::x"]}}},
    )
    channel.pytest_configure_node(node)
    assert node.workerinput[CHANNEL] == {"budget_ledger": "/tmp/l"}
    channel.pytest_testnodedown(node, None)
    channel.pytest_testnodedown(node, None)  # xdist does this on Ctrl-C
    assert session.worker_parts["gw0"]["calls"] == {"attempts": 3}
    assert rule.deselected == {"t.py::x"}


def test_importing_the_plugin_changes_nothing_in_the_process() -> None:
    script = """
import os, pkgutil, importlib, sys
os.umask(0o027)
import pytest_llmops
assert "asyncio" not in sys.modules and "pytest_llmops._judge.core" not in sys.modules, "import pytest_llmops is not free"
for module in pkgutil.walk_packages(pytest_llmops.__path__, "pytest_llmops."):
    if module.name.rsplit(".", 1)[-1] not in ("__main__", "_hf", "hf", "openai_api", "_semantic", "_perplexity", "gguf_cache"):
        importlib.import_module(module.name)
print(oct(os.umask(0)))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0o27"


def test_the_entry_module_imports_nothing_of_the_plugin() -> None:
    script = """
import sys, pytest
import pytest_llmops._plugin.entry
loaded = sorted(name for name in sys.modules if name.startswith("pytest_llmops."))
assert loaded == ["pytest_llmops._plugin", "pytest_llmops._plugin.entry"], loaded
"""
    subprocess.run([sys.executable, "-c", script], check=True)
