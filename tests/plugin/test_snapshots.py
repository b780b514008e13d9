"""Prompt-version snapshots as a user lives with them: record, drift, update, prune, select."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from html_check import chromium_dom
from inner import RECORDS_CONFTEST

from pytest_llmops._files import STALE_AFTER_S
from pytest_llmops._results import RENDER_SEPARATOR
from pytest_llmops._snapshots import read_snapshot_file

pytest_plugins = ["pytester"]

ECHO = ("--llm-model", "echo", "--llm-record-mode", "off", "-p", "no:cacheprovider")


# Each test renders its prompt, asks the echo model, and checks (or records) its reference
# output through the store the golden-output fixture uses.
TESTS = """
import pytest
from pytest_llmops._plugin.session import session_of

def answer(request, llm, prompt, name, **variables):
    out = llm.complete(prompt(name, **variables)).text
    store = session_of(request.config).snapshots
    reference = store.reference(request.node)
    if reference is None:
        store.record_reference(request.node, "output", out)
    else:
        assert reference == out

def test_summary(request, llm, prompt):
    answer(request, llm, prompt, "summarize", article="The council met.\\nIt agreed.")

def test_translate(request, llm, prompt):
    answer(request, llm, prompt, "translate", text="Good morning")

def test_no_prompt():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    write(
        pytester,
        "prompts/summarize.jinja",
        "---\nversion: 3\n---\nsystem:\n{% include 'tone' %}\nuser:\n{{ article }}\n",
    )
    write(pytester, "prompts/tone.jinja", "Be neutral.")
    write(pytester, "prompts/translate.jinja", "Translate to French: {{ text }}")
    pytester.makeconftest(RECORDS_CONFTEST)
    pytester.makepyfile(test_mod=TESTS)
    return pytester


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    (pytester.path / "records.jsonl").unlink(missing_ok=True)
    return pytester.runpytest(*ECHO, *args)


def snapshot(pytester: pytest.Pytester) -> Path:
    return pytester.path / "__llm_snapshots__" / "test_mod.yaml"


def records(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    lines = (pytester.path / "records.jsonl").read_text().splitlines()
    return {r["nodeid"].split("::")[-1]: r for r in map(json.loads, lines)}


def test_the_first_run_records_prompt_versions_and_references(project: pytest.Pytester) -> None:
    result = run(project)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*= llmops snapshots =*", "written: __llm_snapshots__/test_mod.yaml (2 tests)"])
    entries = read_snapshot_file(snapshot(project))
    assert sorted(entries) == ["test_summary", "test_translate"]
    summary = entries["test_summary"]
    assert summary.prompts["summarize"]["version"] == "3"
    assert summary.references == {"output": "The council met.\nIt agreed."}
    assert "      output: |-\n        The council met.\n        It agreed.\n" in snapshot(project).read_text()
    assert "version" not in entries["test_translate"].prompts["translate"]
    assert summary.prompts["summarize"]["text"] == "system:\nBe neutral.\n\nuser:\nThe council met.\nIt agreed."
    assert entries["test_translate"].prompts["translate"]["text"] == "Translate to French: Good morning"

    again = run(project)
    again.assert_outcomes(passed=3)
    assert "llmops snapshots" not in again.stdout.str()
    assert read_snapshot_file(snapshot(project)) == entries


def test_a_declared_version_change_is_reported_and_marked_on_the_record(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    written = snapshot(project).read_text()
    old_hash = read_snapshot_file(snapshot(project))["test_summary"].prompts["summarize"]["hash"]
    write(project, "prompts/summarize.jinja", "---\nversion: 4\n---\nuser:\n{{ article }}\n")

    result = run(project)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "prompt changed since its snapshot:",
            "  test_mod.py::test_summary: summarize: v3 -> v4",
            "*--llm-snapshot-update*--llm-changed-prompts*",
        ]
    )
    assert "test_translate:" not in result.stdout.str()
    assert snapshot(project).read_text() == written  # drift alone never rewrites
    [summarize] = records(project)["test_summary"]["prompts"]
    assert summarize["snapshot"] == "changed"
    assert summarize["version"] == "4"
    assert summarize["changed_from"] == {"hash": old_hash, "version": "3"}
    assert summarize["snapshot_text"] == "system:\nBe neutral.\n\nuser:\nThe council met.\nIt agreed."
    assert summarize["text"] == "user:\nThe council met.\nIt agreed."
    assert records(project)["test_translate"]["prompts"][0]["snapshot"] == "same"


def test_the_markdown_summary_lists_changed_prompts(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    write(project, "prompts/summarize.jinja", "---\nversion: 4\n---\nuser:\n{{ article }}\n")
    run(project, "--llm-report-md", "summary.md").assert_outcomes(passed=3)
    summary = (project.path / "summary.md").read_text()
    [summarize] = records(project)["test_summary"]["prompts"]
    assert (
        "### Changed prompts\n\n| prompt | version | hash | tests |\n|---|---|---|---|\n"
        f"| summarize | 4 | {summarize['hash'][:8]} | 1 |\n"
    ) in summary


@pytest.mark.slow
def test_the_html_report_diffs_a_changed_prompt_against_its_snapshot(project: pytest.Pytester, tmp_path: Path) -> None:
    run(project).assert_outcomes(passed=3)
    write(project, "prompts/translate.jinja", "Translate to German: {{ text }}")
    run(project, "--llm-report-html", "report.html", "--llm-report-json", "report.json").assert_outcomes(
        failed=1, passed=2
    )
    report = json.loads((project.path / "report.json").read_text())
    number = 1 + [t["nodeid"] for t in report["tests"]].index("test_mod.py::test_translate")
    dom = chromium_dom(project.path / "report.html", tmp_path, f"#test-{number}")  # its details, opened
    old, new = (
        read_snapshot_file(snapshot(project))["test_translate"].prompts["translate"]["hash"][:8],
        records(project)["test_translate"]["prompts"][0]["hash"][:8],
    )
    diff = dom.partition(f"Prompt translate: {old} → {new}, against its snapshot")[2].partition("</div>")[0]
    assert diff.endswith('<div class="text">Translate to <del>French:</del><ins>German:</ins> Good morning')
    shown = dom.partition("<script")[0]  # the page, not the report's data and code
    assert shown.count("against its snapshot") == 1  # the unchanged summarize prompt has none


def test_each_distinct_render_of_a_prompt_is_kept(pytester: pytest.Pytester) -> None:
    write(pytester, "prompts/greet.jinja", "Hello {{ name }}")
    pytester.makepyfile(
        test_mod="""
        def test_greetings(prompt):
            for name in ("Ann", "Bob", "Ann"):
                prompt("greet", name=name)
    """
    )
    run(pytester).assert_outcomes(passed=1)
    [greet] = read_snapshot_file(snapshot(pytester))["test_greetings"].prompts.values()
    assert greet["text"] == f"Hello Ann{RENDER_SEPARATOR}Hello Bob"


def test_temporaries_a_killed_run_left_are_removed_by_the_next_write(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    folder = snapshot(project).parent
    stale, fresh = folder / ".test_mod.yaml.k1ll3d.tmp", folder / ".test_mod.yaml.wr1t1ng.tmp"
    stale_report, other = project.path / ".report.md.k1ll3d.tmp", folder / ".other.yaml.k1ll3d.tmp"
    for leftover in (stale, fresh, stale_report, other):
        leftover.write_text("half a file")
    for leftover in (stale, stale_report, other):
        os.utime(leftover, (time.time() - STALE_AFTER_S - 60,) * 2)

    run(project, "--llm-report-md", "report.md").assert_outcomes(passed=3)
    assert not stale.exists() and not stale_report.exists()
    assert fresh.exists()  # may be another run's write in progress
    assert other.exists()  # not a temporary of a file this run writes


def test_editing_an_included_template_changes_the_version(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    write(project, "prompts/tone.jinja", "Be cheerful.")
    result = run(project)
    result.stdout.fnmatch_lines(["  test_mod.py::test_summary: summarize: v3 (*) -> v3 (*)"])
    assert "test_translate:" not in result.stdout.str()


def test_update_rewrites_the_snapshot_and_the_drift_is_gone(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    before = read_snapshot_file(snapshot(project))
    write(project, "prompts/tone.jinja", "Be cheerful.")

    result = run(project, "--llm-snapshot-update")
    result.stdout.fnmatch_lines(
        ["prompt updated:", "  test_mod.py::test_summary: summarize:*", "written: *test_mod.yaml (1 test)"]
    )
    after = read_snapshot_file(snapshot(project))
    assert after["test_summary"].prompts["summarize"]["hash"] != before["test_summary"].prompts["summarize"]["hash"]
    assert after["test_translate"] == before["test_translate"]

    again = run(project)
    assert "llmops snapshots" not in again.stdout.str()


def test_changed_prompts_runs_only_the_tests_they_affect(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    for xdist in ([], ["-n", "2"]):  # nothing changed: nothing to run, and the CI step passes
        nothing = run(project, "--llm-changed-prompts", *xdist)
        nothing.assert_outcomes(deselected=0 if xdist else 3)  # xdist's controller counts none
        assert nothing.ret == pytest.ExitCode.OK
        nothing.stdout.fnmatch_lines(
            [
                "pytest-llmops --llm-changed-prompts: no test uses a prompt template "
                "that changed since its snapshot; nothing to run"
            ]
        )

    write(project, "prompts/translate.jinja", "Translate to German: {{ text }}")
    result = run(project, "--llm-changed-prompts", "-v")
    result.assert_outcomes(failed=1, deselected=2)  # its reference no longer matches
    result.stdout.fnmatch_lines(["*test_mod.py::test_translate FAILED*"])

    (project.path / "prompts" / "translate.jinja").unlink()  # a deleted template counts as changed
    run(project, "--llm-changed-prompts").assert_outcomes(errors=1, deselected=2)


def test_unused_entries_are_reported_and_pruned_only_on_request(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    for partial in (["-k", "summary"], ["test_mod.py::test_summary"]):  # the others still exist
        assert "llmops snapshots" not in run(project, *partial).stdout.str()

    project.makepyfile(test_mod=TESTS.replace("def test_translate(", "def _gone("))
    written = snapshot(project).read_text()

    result = run(project)
    result.stdout.fnmatch_lines(
        [
            "unused snapshot entries: 1",
            "  __llm_snapshots__/test_mod.yaml: test_translate: test no longer exists",
            "  (remove with --llm-snapshot-prune)",
        ]
    )
    assert snapshot(project).read_text() == written

    pruned = run(project, "--llm-snapshot-prune")
    pruned.stdout.fnmatch_lines(["removed snapshot entries: 1", "*test_translate: test no longer exists"])
    assert sorted(read_snapshot_file(snapshot(project))) == ["test_summary"]


def test_the_snapshot_file_of_a_deleted_module_is_reported_and_pruned(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    project.path.joinpath("test_mod.py").rename(project.path / "test_renamed.py")
    result = run(project)
    result.stdout.fnmatch_lines(
        [
            "unused snapshot entries: 2",
            "  __llm_snapshots__/test_mod.yaml: test_summary: test no longer exists",
            "  __llm_snapshots__/test_mod.yaml: test_translate: test no longer exists",
        ]
    )
    run(project, "--llm-snapshot-prune").stdout.fnmatch_lines(
        ["removed: __llm_snapshots__/test_mod.yaml (no entries left)"]
    )
    assert not snapshot(project).exists()
    assert read_snapshot_file(project.path / "__llm_snapshots__" / "test_renamed.yaml")


def test_an_unused_reference_is_reported_and_pruned(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    project.makepyfile(
        test_mod=TESTS
        + textwrap.dedent("""
        def test_summary(llm, prompt):  # no longer checks its reference
            llm.complete(prompt("summarize", article="x"))
    """)
    )
    result = run(project)
    result.stdout.fnmatch_lines(["*test_mod.yaml: test_summary: reference 'output'"])
    run(project, "--llm-snapshot-prune")
    entry = read_snapshot_file(snapshot(project))["test_summary"]
    assert entry.references == {} and "summarize" in entry.prompts


def test_a_failing_test_keeps_its_entries(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    project.makepyfile(test_mod=TESTS + "\ndef test_summary():\n    assert False\n")
    result = run(project, "--llm-snapshot-prune")
    result.assert_outcomes(passed=2, failed=1)
    assert "test_summary" in read_snapshot_file(snapshot(project))


def test_pruning_the_last_entry_deletes_the_file(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=3)
    project.makepyfile(test_mod="def test_no_prompt():\n    pass\n")
    result = run(project, "--llm-snapshot-prune")
    result.stdout.fnmatch_lines(["removed: __llm_snapshots__/test_mod.yaml (no entries left)"])
    assert not snapshot(project).exists()


def test_a_corrupt_file_is_named_and_never_overwritten(project: pytest.Pytester) -> None:
    snapshot(project).parent.mkdir()
    snapshot(project).write_text("test_summary:\n  prompts: [oops]\n")
    result = run(project, "--llm-snapshot-update")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_summary*",
            f"*corrupt snapshot file {snapshot(project)}: entry 'test_summary': prompts and references must be mappings*",
            f"not written: corrupt snapshot file {snapshot(project)}*",
        ]
    )
    assert snapshot(project).read_text() == "test_summary:\n  prompts: [oops]\n"

    usage = run(project, "--llm-changed-prompts")
    assert usage.ret == pytest.ExitCode.USAGE_ERROR
    usage.stderr.fnmatch_lines([f"*--llm-changed-prompts: corrupt snapshot file {snapshot(project)}*"])


def test_a_path_like_parameter_id_stays_a_key_in_the_module_file(project: pytest.Pytester) -> None:
    write(
        project,
        "pkg/test_ids.py",
        textwrap.dedent("""
        import pytest
        from pytest_llmops._plugin.session import session_of

        @pytest.mark.parametrize("text", ["../escape", "/abs/path"], ids=["../x", "/etc/y"])
        def test_ids(request, text):
            session_of(request.config).snapshots.record_reference(request.node, "output", text)
    """),
    )
    run(project, "pkg").assert_outcomes(passed=2)
    files = sorted(p.relative_to(project.path).as_posix() for p in project.path.rglob("*.yaml"))
    assert files == ["pkg/__llm_snapshots__/test_ids.yaml"]
    entries = read_snapshot_file(project.path / files[0])
    assert {k: v.references["output"] for k, v in entries.items()} == {
        "test_ids[../x]": "../escape",
        "test_ids[/etc/y]": "/abs/path",
    }


def test_reference_names_and_texts_are_checked(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_api="""
        import pytest
        from pytest_llmops._plugin.session import session_of

        def test_bad(request):
            store = session_of(request.config).snapshots
            with pytest.raises(ValueError, match="reference name"):
                store.record_reference(request.node, " ", "x")
            with pytest.raises(TypeError, match="must be text"):
                store.record_reference(request.node, "output", 3)
            assert store.reference(request.node, "other") is None
            store.record_reference(request.node, "other", "staged")
            assert store.reference(request.node, "other") == "staged"
            assert store.update is False
    """
    )
    run(project, "test_api.py").assert_outcomes(passed=1)


@pytest.mark.slow
def test_xdist_workers_lose_no_snapshot_entry(pytester: pytest.Pytester) -> None:
    write(pytester, "prompts/echo.jinja", "---\nversion: 1\n---\nSay {{ n }}\nthen stop")
    pytester.makepyfile(
        test_many="""
        import pytest
        from pytest_llmops._plugin.session import session_of

        @pytest.mark.parametrize("n", range(40))
        def test_case(request, llm, prompt, n):
            out = llm.complete(prompt("echo", n=n))
            session_of(request.config).snapshots.record_reference(request.node, "output", out.text)
    """
    )
    result = pytester.runpytest_subprocess(*ECHO, "-n", "2")
    result.assert_outcomes(passed=40)
    path = pytester.path / "__llm_snapshots__" / "test_many.yaml"
    entries = read_snapshot_file(path)
    assert len(entries) == 40
    assert all(entries[f"test_case[{n}]"].references["output"] == f"Say {n}\nthen stop" for n in range(40))

    write(pytester, "prompts/echo.jinja", "---\nversion: 2\n---\nSay {{ n }}\nthen stop")
    drift = pytester.runpytest_subprocess(*ECHO, "-n", "2")
    drift.stdout.fnmatch_lines(["prompt changed since its snapshot:", "  test_many.py::test_case[0]: echo: v1 -> v2"])
    assert drift.stdout.str().count(": echo: v1 -> v2") == 40

    pytester.makepyfile(test_many=pytester.path.joinpath("test_many.py").read_text().replace("range(40)", "range(30)"))
    pruned = pytester.runpytest_subprocess(*ECHO, "-n", "2", "--llm-snapshot-update", "--llm-snapshot-prune")
    pruned.stdout.fnmatch_lines(["removed snapshot entries: 10"])
    entries = read_snapshot_file(path)
    assert len(entries) == 30
    assert {e.prompts["echo"]["version"] for e in entries.values()} == {"2"}


TICKETS = """
import pytest

@pytest.mark.parametrize("n", range(13))
def test_route(prompt, n):
    prompt("classify", ticket=f"Ticket number {n} is about a refund.")
"""

CLASSIFY = """system:
You route customer-support tickets. You answer with JSON only.

user:
Classify the ticket below.
intent is one of: shipping, refund, billing.
Ticket:
{{ ticket }}
"""


def test_a_one_word_template_edit_is_one_hunk_of_the_snapshot_file(pytester: pytest.Pytester) -> None:
    import difflib

    write(pytester, "prompts/classify.jinja", CLASSIFY)
    pytester.makepyfile(test_mod=TICKETS)
    run(pytester, "--llm-snapshot-update").assert_outcomes(passed=13)
    before = snapshot(pytester).read_text()
    assert before.count("Classify the ticket below.") == 1  # the template's text, once
    assert before.count("      classify:\n        lines:\n          8: Ticket number") == 12

    unchanged = run(pytester, "--llm-snapshot-update")
    assert "llmops snapshots" not in unchanged.stdout.str()
    assert snapshot(pytester).read_text() == before  # not a byte changed

    write(pytester, "prompts/classify.jinja", CLASSIFY.replace("Classify", "Label"))
    run(pytester, "--llm-snapshot-update").stdout.fnmatch_lines(["written: *test_mod.yaml (13 tests)"])
    after = snapshot(pytester).read_text()
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))
    assert sum(1 for line in diff if line.startswith("@@")) == 1
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        f"-    hash: {template_hash_in(before)}",
        f"+    hash: {template_hash_in(after)}",
        "-      Classify the ticket below.",
        "+      Label the ticket below.",
    ]
    texts = {e.prompts["classify"]["text"] for e in read_snapshot_file(snapshot(pytester)).values()}
    assert texts == {
        CLASSIFY.replace("Classify", "Label").replace("{{ ticket }}\n", f"Ticket number {n} is about a refund.")
        for n in range(13)
    }


def template_hash_in(text: str) -> str:
    """The hash of the first template under ``templates:`` of snapshot file text."""
    return text.partition("    hash: ")[2].partition("\n")[0]


def test_update_rewrites_a_format_1_file_as_format_2(project: pytest.Pytester) -> None:
    import yaml

    run(project).assert_outcomes(passed=3)
    entries = read_snapshot_file(snapshot(project))
    old = yaml.safe_dump({key: {"prompts": e.prompts, "references": e.references} for key, e in entries.items()})
    snapshot(project).write_text(old)  # format 1: a full entry per test, no header

    assert "llmops snapshots" not in run(project).stdout.str()
    assert snapshot(project).read_text() == old  # read as it is; only an update rewrites it

    result = run(project, "--llm-snapshot-update")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["written: __llm_snapshots__/test_mod.yaml (in snapshot format 2)"])
    assert "# snapshot format: 2\ntemplates:\n" in snapshot(project).read_text()
    assert read_snapshot_file(snapshot(project)) == entries
