"""Dataset suites: one test per case, their calls made concurrently, pytest's semantics kept."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Sequence

import pytest
from servers import InFlight, ScriptedServer

from pytest_llmops._snapshots import read_snapshot_file

pytest_plugins = ["pytester"]

Start = Callable[..., ScriptedServer]


def _openai(server: ScriptedServer, *more: str) -> list[str]:
    return [
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-record-mode",
        "off",
        *more,
    ]


def _cases(pytester: pytest.Pytester, ids: Sequence[str], name: str = "cases/support.jsonl") -> None:
    (pytester.path / "cases").mkdir(exist_ok=True)
    lines = [json.dumps({"id": i, "input": f"question {i}", "expected": f"question {i}"}) for i in ids]
    (pytester.path / name).write_text("\n".join(lines) + "\n")


CHECK_SUITE = """
    import pytest

    @pytest.mark.llm_dataset("cases/support.jsonl")
    def test_reply(case):
        assert case.expected in case.output.text
"""


def _asked(server: ScriptedServer) -> list[str]:
    return sorted(body["messages"][-1]["content"] for body in server.requests)


def test_each_case_is_its_own_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".jsonl",
        **{
            "cases/support": "\n".join(
                [
                    '{"id": "greet", "input": "hello there", "expected": "hello", "lang": "en"}',
                    '{"id": "bye", "input": "goodbye", "expected": "ciao", "lang": "it"}',
                    '{"id": "chat", "input": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}',
                ]
            )
        },
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_reply(case, llm_record):
            assert case.output.text == case.text == (case.inputs["input"] if case.id != "chat" else "hi")
            assert set(case.inputs) <= {"input", "lang"}
            assert llm_record.extra["case"] == {"id": case.id, "source": case.source}
            assert case.source.startswith("cases/support.jsonl:")
            assert len(llm_record.calls) == 1
            assert case.expected is None or case.expected in case.text
        """
    )
    result = pytester.runpytest("--llm-model", "echo", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_reply[[]greet[]] PASSED*",
            "*::test_reply[[]bye[]] FAILED*",
            "*::test_reply[[]chat[]] PASSED*",
        ]
    )


def test_prompt_template_renders_each_row_and_a_bad_row_errors_alone(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jinja", **{"prompts/reply": "system:\nBe brief.\nuser:\nCustomer asks: {{ question }}\n"})
    pytester.makefile(
        ".yaml",
        **{
            "cases/support": (
                "- id: order\n  question: Where is my order?\n  expected: order\n- id: unasked\n  expected: nothing\n"
            )
        },
    )
    pytester.makefile(".csv", **{"cases/refunds": "key,question,gold\nr1,Can I get a refund?,refund\n"})
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/support.yaml", prompt="reply")
        def test_support(case):
            assert case.text == "Customer asks: Where is my order?"
            assert [v.name for v in case.output.prompt_versions] == ["reply"]

        @pytest.mark.llm_dataset("cases/refunds.csv", prompt="reply", id="key", expected="gold")
        def test_refunds(case):
            assert case.expected in case.text and case.inputs == {"question": "Can I get a refund?"}
        """
    )
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_support[[]unasked[]]*",
            "case 'unasked' at cases/support.yaml:4: prompt 'reply': undefined variable: 'question' is undefined*",
        ]
    )
    [path] = (pytester.path / "__llm_snapshots__").glob("*.yaml")
    assert (
        read_snapshot_file(path)["test_refunds[r1]"].prompts["reply"]["text"]
        == "system:\nBe brief.\n\nuser:\nCustomer asks: Can I get a refund?"
    )


def test_k_and_collect_only_decide_which_calls_are_made(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight())
    _cases(pytester, ["alpha", "beta", "gamma", "delta"])
    pytester.makepyfile(CHECK_SUITE)
    pytester.runpytest(*_openai(server, "--collect-only")).assert_outcomes()
    assert server.requests == []
    result = pytester.runpytest(*_openai(server, "-k", "alpha or gamma"))
    result.assert_outcomes(passed=2, deselected=2)
    assert _asked(server) == ["question alpha", "question gamma"]


def test_last_failed_calls_only_the_failed_cases(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight())
    _cases(pytester, ["a", "b", "c"])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_reply(case):
            assert case.id != "b"
        """
    )
    pytester.runpytest(*_openai(server)).assert_outcomes(passed=2, failed=1)
    server.requests.clear()
    pytester.runpytest(*_openai(server, "--lf")).assert_outcomes(failed=1)
    assert _asked(server) == ["question b"]


def test_skipped_cases_are_not_called(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight())
    _cases(pytester, ["a"])
    pytester.makepyfile(
        """
        import sys
        import pytest

        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_run(case):
            pass

        @pytest.mark.skip(reason="not today")
        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_skipped(case):
            pass

        @pytest.mark.skipif(sys.platform != "nowhere", reason="not here")
        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_skipped_here(case):
            pass

        @pytest.mark.skipif(sys.platform == "nowhere", reason="runs here")
        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_not_skipped_here(case):
            pass
        """
    )
    pytester.runpytest(*_openai(server)).assert_outcomes(passed=2, skipped=2)
    assert _asked(server) == ["question a", "question a"]  # test_run's prefetched, test_not_skipped_here's own


@pytest.mark.parametrize(("flags", "cases", "bound"), [([], 8, 8), (["--llm-concurrency", "3"], 9, 3)])
def test_calls_overlap_up_to_llm_concurrency(
    pytester: pytest.Pytester, scripted_server: Start, flags: list[str], cases: int, bound: int
) -> None:
    server = scripted_server(gate := InFlight(hold=bound, delay=0.05))
    _cases(pytester, [f"c{i}" for i in range(cases)])
    pytester.makepyfile(CHECK_SUITE)
    pytester.runpytest(*_openai(server, *flags)).assert_outcomes(passed=cases)
    assert gate.most == bound
    assert len(server.requests) == cases


def test_hand_written_tests_overlap_their_own_calls(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(gate := InFlight(hold=5))
    pytester.makepyfile(
        """
        def test_many(llm):
            outs = llm.map([f"prompt {i}" for i in range(5)])
            assert [o.text for o in outs] == [f"prompt {i}" for i in range(5)]
        """
    )
    pytester.runpytest(*_openai(server)).assert_outcomes(passed=1)
    assert gate.most == 5


def test_exitfirst_stops_without_waiting_for_every_call(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight(delay=0.2))
    _cases(pytester, [f"c{i:02}" for i in range(30)])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_reply(case):
            assert case.id != "c00"
        """
    )
    result = pytester.runpytest(*_openai(server, "--llm-concurrency", "2", "-x"))
    result.assert_outcomes(failed=1)
    print(f"{len(server.requests)} of 30 calls made before -x stopped the run")
    assert len(server.requests) < 10


def test_a_failing_call_errors_only_its_own_test(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight(fail_on="boom"))
    _cases(pytester, ["ok1", "boom", "ok2"])
    pytester.makepyfile(CHECK_SUITE)
    result = pytester.runpytest(*_openai(server, "-v"))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_reply[[]ok1[]] PASSED*",
            "*test_reply[[]boom[]] ERROR*",
            "*test_reply[[]ok2[]] PASSED*",
            "ModelCallError: openai:scripted at http://127.0.0.1:*/v1 answered HTTP 500: *",
        ]
    )


def test_report_order_follows_the_file_not_the_answers(pytester: pytest.Pytester, scripted_server: Start) -> None:
    def later_cases_answer_first(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        time.sleep(0.05 * (5 - int(text[-1])))
        return text

    server = scripted_server(later_cases_answer_first)
    _cases(pytester, [f"c{i}" for i in range(5)])
    pytester.makepyfile(CHECK_SUITE)
    result = pytester.runpytest(*_openai(server, "-v"))
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([f"*test_reply[[]c{i}[]] PASSED*" for i in range(5)])


@pytest.mark.slow
def test_two_xdist_workers_make_each_call_once(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight())
    ids = [f"c{i}" for i in range(6)]
    _cases(pytester, ids)
    pytester.makepyfile(CHECK_SUITE)
    pytester.runpytest(*_openai(server, "-n", "2")).assert_outcomes(passed=6)
    assert _asked(server) == [f"question {i}" for i in ids]


def test_recorded_cases_are_not_called(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server(InFlight())
    _cases(pytester, ["a", "b", "c"])
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_reply(case):
            assert case.expected in case.text
            assert case.output.cached == (os.environ["EXPECT_CACHED"] == "1")
        """
    )
    flags = ["--llm-model", "openai:scripted", "--llm-openai-base-url", server.url, "--llm-max-retries", "0"]
    monkeypatch.setenv("EXPECT_CACHED", "0")
    pytester.runpytest(*flags, "--llm-record-mode", "new").assert_outcomes(passed=3)
    assert len(server.requests) == 3
    monkeypatch.setenv("EXPECT_CACHED", "1")
    pytester.runpytest(*flags, "--llm-record-mode", "replay").assert_outcomes(passed=3)
    assert len(server.requests) == 3


BATCH_COUNTING_CONFTEST = """
    from pytest_llmops._models.echo import EchoBackend

    SIZES = []

    class BatchingEcho(EchoBackend):
        batches = True

        def generate(self, requests):
            SIZES.append(len(requests))
            return super().generate(requests)

    def pytest_llmops_register_backends(register):
        register("batchecho", lambda name, settings: BatchingEcho(name), "echo, in batches")

    def pytest_terminal_summary(terminalreporter):
        terminalreporter.write_line(f"batch sizes: {sorted(SIZES)}")
"""


def test_batching_backend_answers_cases_in_padded_batches(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(BATCH_COUNTING_CONFTEST)
    _cases(pytester, [f"c{i}" for i in range(10)])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm("batchecho", max_tokens=5)
        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_reply(case):
            assert case.expected in case.text
        """
    )
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off", "--llm-concurrency", "4")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["batch sizes: [[]2, 4, 4[]]"])


def test_case_fixture_and_marker_need_each_other(pytester: pytest.Pytester) -> None:
    _cases(pytester, ["a"])
    pytester.makepyfile(
        test_fixture_alone="def test_alone(case):\n    pass\n",
        test_marker_alone=(
            "import pytest\n\n@pytest.mark.llm_dataset('cases/support.jsonl')\ndef test_alone():\n    pass\n"
        ),
    )
    result = pytester.runpytest("--llm-model", "echo", "--continue-on-collection-errors")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.llm_dataset on test_marker_alone.py::test_alone: the test must take the `case` fixture",
            "test_fixture_alone.py::test_alone: the `case` fixture needs @pytest.mark.llm_dataset(...)",
        ]
    )


def test_a_missing_case_file_is_a_collection_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad=CHECK_SUITE)
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_bad.py*",
            "@pytest.mark.llm_dataset on test_bad.py::test_reply: no case file at */cases/support.jsonl",
        ]
    )
    assert "Traceback" not in result.stdout.str()


BAD_ROWS_SUITE = """
    import pytest

    @pytest.mark.llm_dataset("cases/support.jsonl")
    def test_reply(case):
        assert case.expected in case.output.text

    def test_plain():
        pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_a_bad_row_errors_only_its_own_test(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makefile(
        ".jsonl",
        **{
            "cases/support": "\n".join(
                [
                    '{"id": "greet", "input": "hello", "expected": "hello"}',
                    '{"id": "bye" "input": "goodbye"}',
                    '{"id": "greet", "input": "hello again"}',
                    '{"id": "thanks", "expected": "thanks"}',
                    '{"id": "order", "input": "my order", "expected": "order"}',
                ]
            )
        },
    )
    pytester.makepyfile(test_bad=BAD_ROWS_SUITE)
    result = pytester.runpytest_subprocess("--llm-model", "echo", "--llm-record-mode", "off", "-rA", *workers)
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED test_bad.py::test_reply[[]greet[]]",
            "PASSED test_bad.py::test_reply[[]order[]]",
            "PASSED test_bad.py::test_plain",
            "*ERROR at setup of test_reply[[]line-2[]]*",
            "*ERROR at setup of test_reply[[]line-3[]]*",
            "*ERROR at setup of test_reply[[]line-4[]]*",
            "cases/support.jsonl:2: not valid JSON (Expecting ',' delimiter, column 14)",
            "cases/support.jsonl:3: duplicate id 'greet' (first on line 1)",
            "cases/support.jsonl:4: no 'input' column (the prompt, as no prompt template is named)",
        ]
    )
    assert "ERROR collecting" not in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_a_csv_record_that_does_not_fit_the_header_errors_alone(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".csv",
        **{
            "cases/support": (
                'id,input,expected\ngreet,hello,hello\nshort,hi\nlong,"two\nlines",x,extra\norder,my order,order\n'
            )
        },
    )
    pytester.makepyfile(test_bad=BAD_ROWS_SUITE.replace("support.jsonl", "support.csv"))
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off", "-v")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_reply[[]greet[]] PASSED*",
            "*test_reply[[]line-3[]] ERROR*",
            "*test_reply[[]line-4[]] ERROR*",
            "*test_reply[[]order[]] PASSED*",
            "*test_plain PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_reply[[]line-3[]]*",
            "cases/support.csv:3: no value for column(s) expected",
            "*ERROR at setup of test_reply[[]line-4[]]*",
            "cases/support.csv:4: more fields than the header has columns",
        ]
    )


def test_bad_rows_are_not_sent_ahead(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(InFlight())
    pytester.makefile(
        ".jsonl",
        **{
            "cases/support": "\n".join(
                [
                    '{"id": "a", "input": "question a", "expected": "question a"}',
                    '{"id": "a", "input": "question again"}',
                    '{"id": true, "input": "question true"}',
                    '{"id": "b", "input": "question b", "expected": "question b"}',
                ]
            )
        },
    )
    pytester.makepyfile(CHECK_SUITE)
    pytester.runpytest(*_openai(server)).assert_outcomes(passed=2, errors=2)
    assert _asked(server) == ["question a", "question b"]


THREAD_NOTING_CONFTEST = """
    import os, threading

    from pytest_llmops._models.echo import EchoBackend

    SEEN = []

    class Noting(EchoBackend):
        def __init__(self, cheap):
            super().__init__()
            self.cheap = cheap

        def generate(self, requests):
            test = os.environ["PYTEST_CURRENT_TEST"].split(" ")[0].rsplit("[", 1)[-1].rstrip("]")
            SEEN.append((requests[0].messages[-1].content.split()[-1], test, threading.current_thread().name))
            return super().generate(requests)

    def pytest_llmops_register_backends(register):
        register("noting", lambda name, settings: Noting(cheap=name == "cheap"), "echo, noting its thread")

    def pytest_terminal_summary(terminalreporter):
        for case, test, thread in SEEN:
            terminalreporter.write_line(f"case {case} answered during {test} on {thread}")
"""


@pytest.mark.parametrize("cheap", [True, False])
def test_cases_of_a_cheap_backend_are_answered_by_their_own_tests(pytester: pytest.Pytester, cheap: bool) -> None:
    pytester.makeconftest(THREAD_NOTING_CONFTEST)
    _cases(pytester, ["a", "b", "c"])
    pytester.makepyfile(CHECK_SUITE)
    model = "noting:cheap" if cheap else "noting:pooled"
    result = pytester.runpytest("--llm-model", model, "--llm-record-mode", "off", "--llm-report-json", "r.json")
    result.assert_outcomes(passed=3)
    lines = [line.split() for line in result.outlines if line.startswith("case ")]
    seen = sorted((words[1], words[4], words[6]) for words in lines)
    if cheap:  # each made by its test, at set-up, in the main thread
        assert seen == [(c, c, "MainThread") for c in "abc"]
    else:  # sent ahead to the pipeline's threads
        assert [case for case, _, _ in seen] == ["a", "b", "c"]
        assert all(thread.startswith("llmops-call") for _, _, thread in seen)
    report = json.loads((pytester.path / "r.json").read_text())
    assert [len(test["calls"]) for test in report["tests"]] == [1, 1, 1]
