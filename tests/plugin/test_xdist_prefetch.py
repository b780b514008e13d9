"""Dataset prefetch under pytest-xdist: a worker sent whole groups of tests (``--dist loadfile``,
``loadscope``, ``loadgroup``) prefetches each group's cases concurrently, as one process does.

Measured at the server: how many calls are in flight at once.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest
from servers import InFlight, ScriptedServer

Start = Callable[..., ScriptedServer]

CASES = 8
MODULE = """
import pytest

{mark}
@pytest.mark.llm_dataset("cases.jsonl")
def test_reply(case):
    assert case.output
"""


def _suite(pytester: pytest.Pytester, mark: str = "") -> None:
    lines = [json.dumps({"id": f"c{i}", "input": f"question {i}"}) for i in range(CASES)]
    (pytester.path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    for name in ("test_one", "test_two"):
        pytester.makepyfile(**{name: MODULE.format(mark=mark.format(group=name))})


def _run(pytester: pytest.Pytester, server: ScriptedServer, dist: str) -> None:
    pytester.runpytest(
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--dist",
        dist,
    ).assert_outcomes(passed=2 * CASES)


@pytest.mark.parametrize(
    ("dist", "mark"),
    [
        ("loadfile", ""),
        pytest.param("loadscope", "", marks=pytest.mark.slow),
        pytest.param("loadgroup", "@pytest.mark.xdist_group('{group}')", marks=pytest.mark.slow),
    ],
)
def test_workers_sent_whole_groups_prefetch_them_like_one_process(
    pytester: pytest.Pytester, scripted_server: Start, dist: str, mark: str
) -> None:
    in_flight = InFlight(hold=2 * CASES, delay=0.05)  # both workers' cases out at once
    _suite(pytester, mark)
    _run(pytester, scripted_server(in_flight), dist)
    assert in_flight.most == 2 * CASES


@pytest.mark.slow
def test_under_dist_load_a_worker_calls_as_its_tests_run(pytester: pytest.Pytester, scripted_server: Start) -> None:
    in_flight = InFlight(delay=0.02)
    _suite(pytester)
    _run(pytester, scripted_server(in_flight), "load")
    assert in_flight.most <= 2  # one call per worker: documented, use loadfile for remote models
