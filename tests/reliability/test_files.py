"""Trust at the edges, for the files a run reads and leaves: formats across versions, hand-edited
recordings, per-test pruning, symlinks, failed snapshot writes, two processes at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ECHO = ("--llm-model", "echo")
SUITE = """
import pytest

def test_stable(llm):
    llm.complete("stable")

def test_flaky(llm):
    llm.complete("flaky")

def test_gone(llm):
    llm.complete("gone")
"""


def recordings(root: Path) -> dict[str, str]:
    """Each recording's text -> its path under ``llm_recordings`` (indexes left out)."""
    folder = root / "llm_recordings"
    return {
        json.loads(p.read_text())["completion"]["text"]: p.relative_to(folder).as_posix()
        for p in sorted(folder.rglob("*.json"))
        if p.name != "_index.json"
    }


def one_recording(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_one="def test_call(llm):\n    assert llm.complete('hello').text == 'hello'\n")
    pytester.runpytest(*ECHO).assert_outcomes(passed=1)
    return pytester.path / "llm_recordings" / recordings(pytester.path)["hello"]


# -- formats across versions -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["replay", "new", "all"])
def test_a_recording_of_a_newer_format_is_an_error_and_never_recorded_over(
    pytester: pytest.Pytester, mode: str
) -> None:
    path = one_recording(pytester)
    data = json.loads(path.read_text())
    data["format"] = 99
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    result = pytester.runpytest(*ECHO, "--llm-record-mode", mode)
    result.assert_outcomes(errors=1)
    relpath = path.relative_to(pytester.path).as_posix()
    result.stdout.fnmatch_lines(
        [
            f"*{relpath} was written by a newer pytest-llmops (recording format 99; this version reads 1-2): "
            "upgrade pytest-llmops"
        ]
    )
    assert path.read_bytes() == before


def test_a_format_1_recording_replays_and_is_not_rewritten(pytester: pytest.Pytester) -> None:
    path = one_recording(pytester)
    path.write_text(path.read_text().replace('"format": 2', '"format": 1'))
    before = path.read_bytes()
    pytester.runpytest(*ECHO, "--llm-record-mode", "replay").assert_outcomes(passed=1)
    assert path.read_bytes() == before


def test_an_index_of_a_newer_format_is_never_overwritten_nor_pruned_by(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*ECHO).assert_outcomes(passed=3)
    index = pytester.path / "llm_recordings" / "test_suite.py" / "_index.json"
    index.write_text('{"format": 99, "tests": {}}')
    pytester.makepyfile(test_suite=SUITE.replace("def test_gone", "def _gone"))
    result = pytester.runpytest(*ECHO, "--llm-recordings-prune")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "not indexed or pruned: llm_recordings/test_suite.py/_index.json was written by a newer pytest-llmops "
            "(recording format 99; this version reads 1-2): upgrade pytest-llmops"
        ]
    )
    assert index.read_text() == '{"format": 99, "tests": {}}'
    assert len(recordings(pytester.path)) == 3


# -- hand-edited recordings ----------------------------------------------------------------


def _set(field: str, value: Any) -> Any:
    def edit(data: dict[str, Any]) -> Any:
        data["completion"][field] = value
        return data

    return edit


def _drop(field: str) -> Any:
    def edit(data: dict[str, Any]) -> Any:
        del data["completion"][field]
        return data

    return edit


CORRUPTIONS = {
    "text a number": _set("text", 3),
    "model null": _set("model", None),
    "prompt tokens a string": _set("prompt_tokens", "12"),
    "completion tokens negative": _set("completion_tokens", -1),
    "tokens a boolean": _set("prompt_tokens", True),
    "latency a list": _set("latency_s", [0.1]),
    "cost a string": _set("cost_usd", "0.01"),
    "finish reason a number": _set("finish_reason", 1),
    "logprobs an object": _set("logprobs", {"token": "a"}),
    "logprobs a list of numbers": _set("logprobs", [1, 2]),
    "logprob a string": _set("logprobs", [{"token": "a", "logprob": "x", "top": []}]),
    "top alternatives malformed": _set("logprobs", [{"token": "a", "logprob": -0.1, "top": [["b"]]}]),
    "text missing": _drop("text"),
    "latency missing": _drop("latency_s"),
    "completion a list": lambda data: {**data, "completion": []},
    "key missing": lambda data: {k: v for k, v in data.items() if k != "key"},
    "format a string": lambda data: {**data, "format": "1"},
    "not an object": lambda data: [data],
}


@pytest.mark.parametrize("edit", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_hand_edited_recording_with_wrong_types_is_corrupt_when_read(pytester: pytest.Pytester, edit: Any) -> None:
    path = one_recording(pytester)
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    relpath = path.relative_to(pytester.path).as_posix()
    replay = pytester.runpytest(*ECHO, "--llm-record-mode", "replay", "--llm-report-json", "report.json")
    replay.assert_outcomes(errors=1)
    replay.stdout.fnmatch_lines([f"*ModelCallError: test_one.py::test_call: corrupt recording {relpath} (*"])
    assert json.loads((pytester.path / "report.json").read_text())["summary"]["tests"]["error"] == 1
    new = pytester.runpytest(*ECHO)
    new.assert_outcomes(passed=1, warnings=1)
    new.stdout.fnmatch_lines([f"*pytest-llmops: corrupt recording {relpath} (*; recording it again"])
    assert json.loads(path.read_text())["completion"]["text"] == "hello"


def test_a_recording_that_is_not_utf8_is_corrupt(pytester: pytest.Pytester) -> None:
    path = one_recording(pytester)
    path.write_bytes(path.read_bytes().replace(b'"hello"', b'"hel\xfflo"'))
    replay = pytester.runpytest(*ECHO, "--llm-record-mode", "replay")
    replay.assert_outcomes(errors=1)
    replay.stdout.fnmatch_lines(["*corrupt recording llm_recordings/test_one.py/*.json (UnicodeDecodeError*"])


# -- prune, test by test -------------------------------------------------------------------

UNFINISHED = {
    "skipped": ("@pytest.mark.skip(reason='not here')\ndef test_flaky", ()),
    "xfailed": ("@pytest.mark.xfail(run=False)\ndef test_flaky", ()),
    "failed before its call": ("def test_flaky(llm):\n    assert 0\n\ndef _flaky", ()),
    "errored in setup": (
        "@pytest.fixture\ndef broken():\n    raise RuntimeError\n\n@pytest.mark.usefixtures('broken')\ndef test_flaky",
        (),
    ),
    "deselected": ("def test_flaky", ("-k", "not flaky")),
}


@pytest.mark.parametrize(("change", "args"), UNFINISHED.values(), ids=UNFINISHED.keys())
def test_prune_deletes_only_what_no_unfinished_test_lists(
    pytester: pytest.Pytester, change: str, args: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*ECHO).assert_outcomes(passed=3)
    files = recordings(pytester.path)
    suite = SUITE.replace("def test_flaky", change, 1).replace("def test_gone", "def _gone")
    pytester.makepyfile(test_suite=suite)
    pruned = pytester.runpytest(*ECHO, "--llm-recordings-prune", *args)
    pruned.stdout.fnmatch_lines(["pruned 1 unused recording(s):", f"  llm_recordings/{files['gone']}"])
    assert recordings(pytester.path) == {"stable": files["stable"], "flaky": files["flaky"]}
    pytester.makepyfile(test_suite=SUITE.replace("def test_gone", "def _gone"))
    pytester.runpytest(*ECHO, "--llm-record-mode", "replay").assert_outcomes(passed=2)


def test_prune_keeps_what_tests_left_out_by_node_id_or_other_files_list(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE, test_other="def test_other(llm):\n    llm.complete('other')\n")
    pytester.runpytest(*ECHO).assert_outcomes(passed=4)
    files = recordings(pytester.path)
    pytester.runpytest(*ECHO, "--llm-recordings-prune", "test_suite.py::test_stable").assert_outcomes(passed=1)
    pytester.runpytest(*ECHO, "--llm-recordings-prune", "test_other.py").assert_outcomes(passed=1)
    assert recordings(pytester.path) == files


def test_recordings_written_before_the_index_keep_the_module_rule(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*ECHO).assert_outcomes(passed=3)
    folder = pytester.path / "llm_recordings" / "test_suite.py"
    (folder / "_index.json").unlink()
    for path in folder.glob("*.json"):  # as a version before the index wrote them
        path.write_text(path.read_text().replace('"format": 2', '"format": 1'))
    files = recordings(pytester.path)
    skipped = SUITE.replace("def test_flaky", "@pytest.mark.skip\ndef test_flaky").replace("def test_gone", "def _gone")
    pytester.makepyfile(test_suite=skipped)
    pytester.runpytest(*ECHO, "--llm-recordings-prune").assert_outcomes(passed=1, skipped=1)
    assert recordings(pytester.path) == files  # the module has a skipped test: nothing unindexed goes
    assert json.loads((folder / "_index.json").read_text())["tests"] == {"test_stable": [files["stable"].split("/")[1]]}
    pytester.makepyfile(test_suite=SUITE.replace("def test_gone", "def _gone"))
    pytester.runpytest(*ECHO, "--llm-recordings-prune").assert_outcomes(passed=2)
    assert recordings(pytester.path) == {"stable": files["stable"], "flaky": files["flaky"]}


def test_the_index_is_stable_and_rewritten_only_when_it_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*ECHO).assert_outcomes(passed=3)
    index = pytester.path / "llm_recordings" / "test_suite.py" / "_index.json"
    data = json.loads(index.read_text())
    assert list(data["tests"]) == sorted(data["tests"])
    os.utime(index, (1, 1))
    pytester.runpytest(*ECHO, "--llm-record-mode", "replay", "-p", "xdist", "-n", "2").assert_outcomes(passed=3)
    assert index.stat().st_mtime == 1


# -- symlinks ------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["folder", "file"])
def test_prune_never_follows_a_symlink_out_of_the_recordings_folder(
    pytester: pytest.Pytester, tmp_path: Path, link: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "0123456789abcdef01234567.json"
    victim.write_text('{"format": 2}')
    pytester.makepyfile(test_suite="def test_stable(llm):\n    llm.complete('stable')\n")
    folder = pytester.path / "llm_recordings" / "test_suite.py"
    if link == "folder":
        folder.parent.mkdir()
        folder.symlink_to(outside, target_is_directory=True)
    else:
        pytester.runpytest(*ECHO).assert_outcomes(passed=1)
        (folder / victim.name).symlink_to(victim)
    result = pytester.runpytest(*ECHO, "--llm-recordings-prune")
    assert victim.read_text() == '{"format": 2}'
    assert victim.name not in result.stdout.str()
    if link == "folder":
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            ["*not writing recording llm_recordings/test_suite.py/*.json: a symlink leads it out of llm_recordings/"]
        )
        assert sorted(p.name for p in outside.iterdir()) == [victim.name]


# -- snapshots -----------------------------------------------------------------------------

PROMPTED = "def test_{0}(prompt):\n    prompt('say', word='{0}')\n\n"
SNAPSHOT_ARGS = ("--llm-record-mode", "off", "-p", "no:cacheprovider")


def prompted(pytester: pytest.Pytester, *names: str) -> Path:
    """A module whose tests render a template, and the path of its snapshot file."""
    (pytester.path / "prompts").mkdir(exist_ok=True)
    (pytester.path / "prompts" / "say.jinja").write_text("Say {{ word }}")
    pytester.makepyfile(test_mod="".join(PROMPTED.format(name) for name in names))
    return pytester.path / "__llm_snapshots__" / "test_mod.yaml"


@pytest.mark.parametrize("args", [(), ("--llm-snapshot-update",), ("--llm-snapshot-update", "--llm-snapshot-prune")])
def test_a_snapshot_file_of_a_newer_format_is_an_error_and_never_overwritten(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    path = prompted(pytester, "a")
    path.parent.mkdir()
    path.write_text("# snapshot format: 99\ntest_a:\n  future: {}\n")
    result = pytester.runpytest(*SNAPSHOT_ARGS, "--llm-model", "echo", *args)
    result.stdout.fnmatch_lines(
        [
            "*__llm_snapshots__/test_mod.yaml was written by a newer pytest-llmops (snapshot format 99; "
            "this version reads 1-2): upgrade pytest-llmops; it is never overwritten*"
        ]
    )
    assert path.read_text() == "# snapshot format: 99\ntest_a:\n  future: {}\n"


def test_snapshot_files_name_their_format_when_written(pytester: pytest.Pytester) -> None:
    path = prompted(pytester, "a")
    pytester.runpytest(*SNAPSHOT_ARGS).assert_outcomes(passed=1)
    assert "# snapshot format: 2\n" in path.read_text()


def test_a_snapshot_write_that_fails_ends_the_run_naming_the_file(pytester: pytest.Pytester) -> None:
    prompted(pytester, "a")
    (pytester.path / "__llm_snapshots__").write_text("a file where the folder should be")
    pytester.makepyfile(test_call="def test_call(llm):\n    llm.complete('hi')\n")
    result = pytester.runpytest("--llm-model", "echo", "-p", "no:cacheprovider", "--llm-report-json", "report.json")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*llmops snapshots*", "cannot write snapshot file __llm_snapshots__/test_mod.yaml: *"])
    assert json.loads((pytester.path / "report.json").read_text())["summary"]["tests"]["passed"] == 2
    assert recordings(pytester.path).keys() == {"hi"}


FULL_DISK = """
import resource, signal, sys
import pytest
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_a_snapshot_write_on_a_full_disk_ends_the_run_naming_the_file(pytester: pytest.Pytester) -> None:
    path = prompted(pytester, *(f"t{n}" for n in range(40)))  # a snapshot file of some 4 KB
    script = pytester.path / "full_disk.py"
    script.write_text(FULL_DISK)
    run = subprocess.run(
        [sys.executable, str(script), *SNAPSHOT_ARGS], cwd=pytester.path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "40 passed" in run.stdout
    assert "cannot write snapshot file __llm_snapshots__/test_mod.yaml: File too large" in run.stdout
    assert not path.exists() and not list(path.parent.glob(".*.tmp"))


@pytest.mark.slow
def test_two_processes_updating_one_snapshot_file_keep_both_entries(pytester: pytest.Pytester) -> None:
    path = prompted(pytester, "a", "b")
    # Each run waits after its test read the file, so the other run writes in between.
    slow = "".join(f"def test_{name}_later():\n    time.sleep(1)\n\n" for name in ("a", "b"))
    module = pytester.path / "test_mod.py"
    module.write_text(f"import time\n\n{module.read_text()}\n\n{slow}")
    command = [sys.executable, "-m", "pytest", *SNAPSHOT_ARGS, "--llm-snapshot-update", "-q"]
    for _ in range(3):
        path.unlink(missing_ok=True)
        runs = [
            subprocess.Popen(
                [*command, "-k", name], cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for name in ("test_a", "test_b")
        ]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        entries = path.read_text()
        assert "test_a:" in entries and "test_b:" in entries, entries


def test_a_baseline_of_a_newer_report_schema_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_call(llm):\n    llm.complete('hello')\n")
    pytester.runpytest(*ECHO, "--llm-report-json", "base.json").assert_outcomes(passed=1)
    base = pytester.path / "base.json"
    base.write_text(re.sub(r'"schema_version":\s*1', '"schema_version": 99', base.read_text()))
    result = pytester.runpytest(*ECHO, "--llm-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*llm_baseline: {base} was written by a newer pytest-llmops (report schema version 99; "
            "this version reads 1): upgrade pytest-llmops"
        ]
    )
