"""Record and replay of model calls, as a user runs it: modes, keys, files, pruning, faults."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

# Inner tests append every completion they get here, so the outer test can compare runs.
DUMP = """
import json

def dump(out, **extra):
    with open("calls.jsonl", "a") as file:
        file.write(json.dumps({**out.to_dict(), **extra}) + "\\n")
"""


def with_dump(body: str) -> str:
    return DUMP + textwrap.dedent(body)


def recordings(root: Path, name: str = "llm_recordings") -> dict[str, dict[str, Any]]:
    """Every recording file under ``root/llm_recordings`` (not the indexes), parsed, by relative path."""
    folder = root / name
    return {
        p.relative_to(folder).as_posix(): json.loads(p.read_text())
        for p in sorted(folder.rglob("*.json"))
        if p.name != "_index.json"
    }


def dumped(root: Path) -> list[dict[str, Any]]:
    path = root / "calls.jsonl"
    calls = [json.loads(line) for line in path.read_text().splitlines()]
    path.unlink()
    return calls


def test_new_mode_records_then_replays_text_usage_latency_and_cost(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        with_dump(
            """
            def test_answer(llm, llm_record):
                out = llm.complete("what is two plus two")
                dump(out, record_says_cached=llm_record.calls[-1]["cached"])
            """
        )
    )
    args = ("--llm-model", "echo:Four", "--llm-prices", "echo:Four = 1000 3000")
    first = pytester.runpytest(*args)
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        ["*pytest-llmops recordings*", "0 call(s) replayed, 1 recorded (mode new) in llm_recordings/"]
    )
    [live] = dumped(pytester.path)
    [(name, recording)] = recordings(pytester.path).items()
    assert name.startswith("test_new_mode_records_then_replays_text_usage_latency_and_cost.py/")
    assert recording["key"]["backend"] == {"model": "echo:Four", "spec": "echo:Four"}
    assert recording["key"]["request"]["messages"] == [{"role": "user", "content": "what is two plus two"}]
    assert recording["completion"]["text"] == "Four what is two plus two"

    second = pytester.runpytest(*args, "--llm-record-mode", "replay")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["1 call(s) replayed, 0 recorded (mode replay) in llm_recordings/"])
    [replayed] = dumped(pytester.path)
    assert (live["cached"], live["record_says_cached"]) == (False, False)
    assert (replayed["cached"], replayed["record_says_cached"]) == (True, True)
    for field in ("text", "prompt_tokens", "completion_tokens", "cost_usd", "model", "backend", "finish_reason"):
        assert replayed[field] == live[field]
    assert live["cost_usd"] > 0
    assert replayed["latency_s"] == recording["completion"]["latency_s"] == round(live["latency_s"], 4)


MISSES_SUITE = """
def test_prompt(llm):
    llm.complete("what is the {word} of France")

def test_settings(llm):
    llm.complete("name a colour", temperature={temperature})

def test_kept(llm):
    llm.complete("unchanged")
{added}"""


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one process", "xdist"])
def test_replay_misses_say_what_changed_and_one_command_records_them_all(
    pytester: pytest.Pytester, scripted_server: Any, workers: tuple[str, ...]
) -> None:
    server = scripted_server(lambda body: "an answer")
    flags = ("--llm-model", "openai:scripted", "--llm-openai-base-url", server.url, *workers)
    pytester.makepyfile(test_misses=MISSES_SUITE.format(word="capital", temperature=0.0, added=""))
    pytester.runpytest_subprocess(*flags).assert_outcomes(passed=3)
    never = "\n@pytest.mark.parametrize('who', ['it is me'])\ndef test_never(llm, who):\n    llm.complete(who)\n"
    pytester.makepyfile(
        test_misses="import pytest\n" + MISSES_SUITE.format(word="capitol", temperature=0.5, added=never)
    )

    result = pytester.runpytest_subprocess(*flags, "--llm-record-mode", "replay")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ModelCallError: test_misses.py::test_prompt: no recording of this openai:scripted call "
            "('what is the capitol of France'; looked for llm_recordings/test_misses.py/*.json) and "
            "llm_record_mode is 'replay' (see the command to record it at the end of the run)",
            "what differs from this test's nearest recording:",
        ]
    )
    assert "  messages: user: what is the [-capital-] {+capitol+} of France" in result.stdout.lines
    result.stdout.fnmatch_lines(["*::test_settings: no recording*", "what differs*", "  temperature 0.0 -> 0.5"])
    result.stdout.fnmatch_lines(["*::test_never?it is me?: no recording*; this test has never been recorded"])
    assert "record it with" not in result.stdout.str()
    commands = [line for line in result.stdout.lines if line.startswith("pytest --llm-record-mode=new")]
    assert commands == [
        "pytest --llm-record-mode=new 'test_misses.py::test_never[it is me]' "
        "test_misses.py::test_prompt test_misses.py::test_settings"
    ]
    result.stdout.fnmatch_lines(["3 test(s) made a call with no recording; record them with:", commands[0]])
    assert len(recordings(pytester.path)) == 3  # replay mode writes nothing


def test_a_changed_server_url_is_named_with_its_credentials_hidden(
    pytester: pytest.Pytester, scripted_server: Any
) -> None:
    server = scripted_server(lambda body: "an answer")
    pytester.makepyfile("def test_call(llm):\n    llm.complete('hi')\n")
    args = ("--llm-model", "openai:scripted", "--llm-max-retries", "0")
    pytester.runpytest(*args, "--llm-openai-base-url", server.url).assert_outcomes(passed=1)
    elsewhere = "http://someone:hunter2hunter2@127.0.0.1:9/v1"
    result = pytester.runpytest(*args, "--llm-openai-base-url", elsewhere, "--llm-record-mode", "replay")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f'*  base_url "{server.url}" -> "http://<redacted>@127.0.0.1:9/v1"'])
    assert "hunter2" not in result.stdout.str()


def test_rerecording_the_same_answers_leaves_every_file_as_it_was(
    pytester: pytest.Pytester, scripted_server: Any
) -> None:
    """Only the latency differs between two recordings of the same answer: mode ``all`` keeps
    the file (a pull request's diff shows only answers that changed), and rewrites one whose
    answer did change."""
    pytester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("question", ["one", "two", "three"])
        def test_answer(llm, question):
            assert llm.complete(question).text == question
    """)

    def answer(body: dict[str, Any]) -> str:  # a few ms: each recording's latency differs
        time.sleep(0.005)
        return str(body["messages"][-1]["content"])

    server = scripted_server(answer)
    flags = ("--llm-model", "openai:scripted", "--llm-openai-base-url", server.url)
    pytester.runpytest(*flags).assert_outcomes(passed=3)
    folder = pytester.path / "llm_recordings"
    before = {path: path.read_bytes() for path in folder.rglob("*.json")}
    assert len(before) == 4  # three recordings and the module's index
    edited = next(path for path in before if path.name != "_index.json")
    recording = json.loads(before[edited])
    recording["completion"]["text"] = "an answer the server no longer gives"
    edited.write_text(json.dumps(recording))

    result = pytester.runpytest(*flags, "--llm-record-mode", "all")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*0 call(s) replayed, 3 recorded (mode all)*"])
    after = {path: path.read_bytes() for path in folder.rglob("*.json")}
    assert after.keys() == before.keys()
    assert {path: data for path, data in after.items() if path != edited} == {
        path: data for path, data in before.items() if path != edited
    }
    assert json.loads(after[edited])["completion"]["text"] == json.loads(before[edited])["completion"]["text"]


def test_all_mode_rerecords_and_off_mode_touches_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        with_dump(
            """
            def test_answer(llm):
                dump(llm.complete("hello"))
            """
        )
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=1)
    [(name, recording)] = recordings(pytester.path).items()
    path = pytester.path / "llm_recordings" / name
    recording["completion"]["text"] = "edited by hand"
    path.write_text(json.dumps(recording))

    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=1)
    pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "all").assert_outcomes(passed=1)
    pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off").assert_outcomes(passed=1)
    first, edited, rerecorded, off = dumped(pytester.path)
    assert (first["text"], first["cached"]) == ("hello", False)
    assert (edited["text"], edited["cached"]) == ("edited by hand", True)
    assert (rerecorded["text"], rerecorded["cached"]) == ("hello", False)
    assert (off["text"], off["cached"]) == ("hello", False)
    assert recordings(pytester.path)[name]["completion"]["text"] == "hello"

    (pytester.path / "llm_recordings").rename(pytester.path / "elsewhere")
    pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off").assert_outcomes(passed=1)
    assert not (pytester.path / "llm_recordings").exists()


def test_any_change_to_what_determines_the_answer_misses(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os, pytest

        CHANGED = bool(os.environ.get("CHANGED"))
        BASE = {"prompt": "a question", "temperature": 0.0, "max_tokens": 20, "seed": 1, "stop": "###"}
        CHANGES = {"temperature": 0.5, "max_tokens": 9, "seed": 7, "stop": "zzz", "prompt": "another question",
                   "system": "be terse", "raw": True, "top_p": 0.9}

        @pytest.mark.parametrize("change", sorted(CHANGES))
        def test_call(llm, change):
            call = {**BASE, change: CHANGES[change]} if CHANGED else dict(BASE)
            prompt = call.pop("prompt")
            if "system" in call:
                prompt = [{"role": "system", "content": call.pop("system")}, {"role": "user", "content": prompt}]
            llm.complete(prompt, **call)

        @pytest.mark.llm(model="echo:other" if CHANGED else "echo")
        def test_model(llm):
            llm.complete("a question")
        """
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=9)
    pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "replay").assert_outcomes(passed=9)
    monkeypatch.setenv("CHANGED", "1")
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "replay")
    result.assert_outcomes(errors=9)
    result.stdout.fnmatch_lines(["*::test_model: no recording of this echo:other call*"])


def test_server_url_is_part_of_the_key(pytester: pytest.Pytester, scripted_server: Any) -> None:
    server = scripted_server(["recorded answer"])
    pytester.makepyfile(
        with_dump(
            """
            def test_call(llm):
                dump(llm.complete("hi"))
            """
        )
    )
    args = ("--llm-model", "openai:scripted", "--llm-max-retries", "0")
    pytester.runpytest(*args, "--llm-openai-base-url", server.url).assert_outcomes(passed=1)
    server.__exit__(None, None, None)
    replay = ("--llm-record-mode", "replay")
    pytester.runpytest(*args, *replay, "--llm-openai-base-url", server.url).assert_outcomes(passed=1)
    other = pytester.runpytest(*args, *replay, "--llm-openai-base-url", "http://127.0.0.1:9/v1")
    other.assert_outcomes(errors=1)
    other.stdout.fnmatch_lines(["*no recording of this openai:scripted call*"])
    assert [c["text"] for c in dumped(pytester.path)] == ["recorded answer", "recorded answer"]


def test_repeated_identical_calls_are_numbered_samples_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="""
        def test_three_samples(llm):
            assert [o.text for o in llm.map(["same"] * 2)] + [llm.complete("same").text] == ["same"] * 3

        def test_one_sample(llm):
            llm.complete("same")
        """,
        test_b="""
        def test_elsewhere(llm):
            llm.complete("same")
        """,
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=3)
    files = recordings(pytester.path)
    assert sorted((name.split("/")[0], r["key"]["sample"]) for name, r in files.items()) == [
        ("test_a.py", 0),
        ("test_a.py", 1),
        ("test_a.py", 2),
        ("test_b.py", 0),
    ]
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "replay")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["5 call(s) replayed, 0 recorded (mode replay)*"])


def test_no_secret_lands_in_any_written_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scripted_server: Any
) -> None:
    server = scripted_server(["fine"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET")
    pytester.makeconftest(
        """
        import os
        from pytest_llmops import Generation

        KEY = os.environ["OPENAI_API_KEY"]

        class Keyed:
            batches = False
            model = "keyed"
            identity = {"model": "keyed", "api_key": KEY, "Authorization": "Bearer " + KEY}

            def generate(self, requests):
                return [Generation("ok", 1, 1, self.model) for r in requests]

        def pytest_llmops_register_backends(register):
            register("keyed", lambda name, settings: Keyed())
        """
    )
    pytester.makepyfile(
        """
        import os, pytest

        def test_openai(llm):
            assert llm.complete("hello").text == "fine"

        def test_prompt_quoting_the_key(llm):
            llm.complete("my key is " + os.environ["OPENAI_API_KEY"])

        @pytest.mark.llm(model="keyed:x")
        def test_backend_with_a_key_in_its_identity(llm):
            llm.complete("hello")
        """
    )
    args = ("--llm-model", "openai:scripted", "--llm-openai-base-url", server.url)
    pytester.runpytest(*args).assert_outcomes(passed=3)
    assert server.requests  # the key did travel to the server...
    written = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert len([p for p in written if p.suffix == ".json"]) == 4  # 3 recordings and their index
    assert not [p for p in written if b"sk-test-SECRET" in p.read_bytes()]  # ...and into no file
    keyed = [r for r in recordings(pytester.path).values() if r["key"]["backend"]["model"] == "keyed"]
    assert keyed[0]["key"]["backend"] == {"model": "keyed", "spec": "keyed:x"}
    quoted = [
        r for r in recordings(pytester.path).values() if "my key" in r["key"]["request"]["messages"][0]["content"]
    ]
    assert quoted[0]["key"]["request"]["messages"][0]["content"] == "my key is <OPENAI_API_KEY>"
    pytester.runpytest(*args, "--llm-record-mode", "replay").assert_outcomes(passed=3)


def test_a_failed_call_writes_no_recording(pytester: pytest.Pytester, scripted_server: Any) -> None:
    server = scripted_server([(500, {"error": {"message": "boom"}}), "second try works"])
    pytester.makepyfile(
        """
        def test_call(llm):
            llm.complete("hi")
        """
    )
    args = ("--llm-model", "openai:scripted", "--llm-openai-base-url", server.url, "--llm-max-retries", "0")
    result = pytester.runpytest(*args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*HTTP 500*"])
    assert not (pytester.path / "llm_recordings").exists()
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert [r["completion"]["text"] for r in recordings(pytester.path).values()] == ["second try works"]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 1, "completion": {"text": 3}}', ""])
def test_corrupt_recording_is_named_rerecorded_in_new_and_an_error_in_replay(
    pytester: pytest.Pytester, content: str
) -> None:
    pytester.makepyfile(
        """
        def test_broken(llm):
            assert llm.complete("hello").text == "hello"

        def test_fine(llm):
            llm.complete("other")
        """
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=2)
    broken = next(n for n, r in recordings(pytester.path).items() if r["completion"]["text"] == "hello")
    path = pytester.path / "llm_recordings" / broken
    path.write_text(content)

    replay = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "replay")
    replay.assert_outcomes(passed=1, errors=1)
    replay.stdout.fnmatch_lines(
        [f"ModelCallError: test_*.py::test_broken: corrupt recording llm_recordings/{broken} (*"]
    )

    new = pytester.runpytest("--llm-model", "echo")
    new.assert_outcomes(passed=2, warnings=1)
    new.stdout.fnmatch_lines(
        [f"*PytestWarning: pytest-llmops: corrupt recording llm_recordings/{broken} (*; recording it again"]
    )
    assert json.loads(path.read_text())["completion"]["text"] == "hello"


def test_unused_recordings_are_reported_and_pruned_test_by_test(pytester: pytest.Pytester) -> None:
    calls = {"test_keep": "kept", "test_drop": "dropped", "test_red": "red"}
    pytester.makepyfile(
        test_a="".join(f"def {name}(llm):\n    llm.complete({text!r})\n\n" for name, text in calls.items()),
        test_b="def test_other(llm):\n    llm.complete('other module')\n",
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=4)
    by_text = {r["completion"]["text"]: name for name, r in recordings(pytester.path).items()}
    index = json.loads((pytester.path / "llm_recordings" / "test_a.py" / "_index.json").read_text())
    assert index == {
        "format": 2,
        "tests": {name: [by_text[text].split("/")[1]] for name, text in sorted(calls.items())},
    }
    (pytester.path / "llm_recordings" / "test_a.py" / ".0123.abc.tmp").write_text("{half a")  # a killed writer's
    # test_drop is gone; test_red now fails before its call, so what it would use is kept.
    pytester.makepyfile(test_a="def test_keep(llm):\n    llm.complete('kept')\n\ndef test_red(llm):\n    assert 0\n")

    stopped = pytester.runpytest("--llm-model", "echo", "--llm-recordings-prune", "-x", "test_a.py")
    stopped.stdout.fnmatch_lines(["not pruning: the run stopped early (-x or --maxfail)"])
    assert len(recordings(pytester.path)) == 4
    report = pytester.runpytest("--llm-model", "echo", "test_a.py")
    report.stdout.fnmatch_lines(
        [
            "2 unused recording(s) (delete them with --llm-recordings-prune):",
            "  llm_recordings/test_a.py/.0123.abc.tmp",
            f"  llm_recordings/{by_text['dropped']}",
        ]
    )
    assert len(recordings(pytester.path)) == 4
    pruned = pytester.runpytest("--llm-model", "echo", "--llm-recordings-prune", "test_a.py")
    pruned.stdout.fnmatch_lines(
        [
            "kept 1 unused recording(s) that tests which did not run to their end may need * in: test_a.py",
            "pruned 2 unused recording(s):",
        ]
    )
    assert sorted(recordings(pytester.path)) == sorted([by_text["kept"], by_text["red"], by_text["other module"]])
    assert not list((pytester.path / "llm_recordings").rglob("*.tmp"))
    assert "unused recording" not in pytester.runpytest("--llm-model", "echo").stdout.str()


@pytest.mark.parametrize("mark", ["skip(reason='not on this platform')", "xfail(run=False)"])
def test_prune_keeps_the_recordings_of_tests_that_did_not_run(pytester: pytest.Pytester, mark: str) -> None:
    suite = "import pytest\n\n{}def test_elsewhere(llm):\n    llm.complete('elsewhere')\n\ndef test_here(llm):\n    llm.complete('here')\n"
    pytester.makepyfile(test_platform=suite.format(""))
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=2)
    pytester.makepyfile(test_platform=suite.format(f"@pytest.mark.{mark}\n"))
    pruned = pytester.runpytest("--llm-model", "echo", "--llm-recordings-prune")
    assert "pruned" not in pruned.stdout.str()
    assert len(recordings(pytester.path)) == 2
    # The full replay on the other platform still finds every recording.
    pytester.makepyfile(test_platform=suite.format(""))
    pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "replay").assert_outcomes(passed=2)


def test_prune_needs_record_replay_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--llm-record-mode", "off", "--llm-recordings-prune")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-recordings-prune needs record/replay on, but llm_record_mode is off*"])


def test_recordings_dir_setting(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllm_model = echo\nllm_recordings_dir = tests/cassettes\n")
    pytester.makepyfile("def test_call(llm):\n    llm.complete('hi')\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["0 call(s) replayed, 1 recorded (mode new) in tests/cassettes/"])
    assert [p.name for p in (pytester.path / "tests" / "cassettes").rglob("*.json")].count("_index.json") == 1
    assert len(recordings(pytester.path / "tests", "cassettes")) == 1


MANY_CALLS = """
import pytest

@pytest.mark.parametrize("n", range(40))
def test_calls(llm, n):
    texts = [o.text for o in llm.map([f"call {n}-{i}" for i in range(3)])]
    assert texts == [f"call {n}-{i}" for i in range(3)]
"""


@pytest.mark.slow
def test_xdist_workers_record_everything_and_prune_exactly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many=MANY_CALLS, test_few="def test_few(llm):\n    llm.complete('few')\n")
    args = ("--llm-model", "echo", "-p", "no:cacheprovider")
    first = pytester.runpytest_subprocess(*args, "-n", "4")
    first.assert_outcomes(passed=41)
    first.stdout.fnmatch_lines(["0 call(s) replayed, 121 recorded (mode new) in llm_recordings/"])
    assert len(recordings(pytester.path)) == 121  # every file parses

    # Replayed by two other workers; the pruning sees what each of them used.
    pytester.makepyfile(test_many=MANY_CALLS.replace("range(40)", "range(30)"))
    pruned = pytester.runpytest_subprocess(*args, "-n", "2", "--llm-record-mode", "replay", "--llm-recordings-prune")
    pruned.assert_outcomes(passed=31)
    pruned.stdout.fnmatch_lines(
        ["91 call(s) replayed, 0 recorded (mode replay) in llm_recordings/", "pruned 30 unused recording(s):"]
    )
    texts = {r["completion"]["text"] for r in recordings(pytester.path).values()}
    assert texts == {f"call {n}-{i}" for n in range(30) for i in range(3)} | {"few"}


@pytest.mark.slow
def test_a_killed_writer_leaves_every_recording_readable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_record_forever(llm):
            for n in range(1_000_000):
                llm.complete(f"call {n} " + "padding " * 200)
        """
    )
    folder = pytester.path / "llm_recordings"
    command = [sys.executable, "-m", "pytest", "--llm-model", "echo", "-p", "no:cacheprovider", "-q"]
    process = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None and len(list(folder.rglob("*.json"))) < 200:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    written = recordings(pytester.path)  # each one parses
    assert len(written) >= 200
    assert all(r["completion"]["text"].startswith("call ") for r in written.values())


def test_replay_loads_no_client_library(pytester: pytest.Pytester, scripted_server: Any) -> None:
    server = scripted_server(["from the server"])
    pytester.makepyfile(
        """
        import sys

        def test_call(llm):
            out = llm.complete("hi")
            assert out.text == "from the server"
            if out.cached:
                assert not {"openai", "httpx", "torch"} & set(sys.modules)
        """
    )
    args = ("--llm-model", "openai:scripted", "--llm-openai-base-url", server.url, "-p", "no:cacheprovider")
    pytester.runpytest(*args).assert_outcomes(passed=1)
    server.__exit__(None, None, None)
    replay = pytester.runpytest_subprocess(*args, "--llm-record-mode", "replay")
    replay.assert_outcomes(passed=1)
    replay.stdout.fnmatch_lines(["1 call(s) replayed, 0 recorded (mode replay) in llm_recordings/"])


def test_judge_calls_replay_and_a_changed_rubric_rejudges(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scripted_server: Any
) -> None:
    server = scripted_server(["Polite enough.\nScore: 4/5"])
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.llm_judge(rubric=os.environ.get("RUBRIC", "Polite"), threshold=0.5, votes=3)
        def test_reply(llm, judge, llm_record):
            judge.check(llm.complete("Your order ships tomorrow."), question="Where is my order?")
            print("cached:", [(c["role"], c["cached"]) for c in llm_record.calls])
        """
    )
    args = (
        "--llm-model",
        "echo",
        "--llm-judge-model",
        "openai:judge",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "-s",
    )
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert len(server.requests) == 3
    judged = [r for r in recordings(pytester.path).values() if r["key"]["backend"]["spec"] == "openai:judge"]
    assert len(judged) == 3 and all("Polite" in json.dumps(r["key"]["request"]["messages"]) for r in judged)
    server.__exit__(None, None, None)

    replay = pytester.runpytest(*args, "--llm-record-mode", "replay")
    replay.assert_outcomes(passed=1)
    assert "cached: [('model', True), ('judge', True), ('judge', True), ('judge', True)]" in replay.stdout.str()
    monkeypatch.setenv("RUBRIC", "Polite, and gives a date")
    rejudged = pytester.runpytest(*args, "--llm-record-mode", "replay")
    rejudged.assert_outcomes(errors=1)
    rejudged.stdout.fnmatch_lines(["*test_reply: no recording of this openai:judge call*"])
