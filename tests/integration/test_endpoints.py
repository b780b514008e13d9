"""Named endpoints (``llm_endpoints``): the tested model and the judge on two servers with two
keys, recordings that name the endpoint and replay where it points elsewhere, and bad entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from servers import ScriptedServer, free_port

from pytest_llmops._models.named_endpoints import NamedEndpoint, parse_endpoints
from pytest_llmops.errors import BadValue

pytest_plugins = ["pytester"]

Start = Callable[..., ScriptedServer]

# Neither variable's name marks a secret: only their being an endpoint's key_env keeps them out.
TESTED_KEY, JUDGE_KEY = "tested-4f9c2a7e1b8d", "judge-9a0b3c5d7e9f"

SUITE = """
import pytest

@pytest.mark.llm_judge(rubric="Answers the question", threshold=0.5)
def test_reply(llm, judge):
    out = llm.complete("Where is my order?")
    assert out.text.startswith("Tomorrow")
    judge.check(out, question="Where is my order?")
"""


def endpoints_ini(tested: str, judge: str) -> str:
    return f"""
        [pytest]
        llm_model = openai@tested:gpt-4o-mini
        llm_judge_model = openai@judge:gpt-4o
        llm_endpoints =
            tested = {tested} key_env=TESTED_CREDS
            judge = {judge} key_env=JUDGE_CREDS
        """


def files_holding(root: Path, secret: str) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_the_model_and_the_judge_on_two_servers_with_two_keys_none_of_them_kept(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each server checks the key it gets, and quotes it back in its answer.
    tested = scripted_server([f"Tomorrow (key {TESTED_KEY})"], model="gpt-4o-mini-2024-07-18", key=TESTED_KEY)
    judge = scripted_server([f"Helpful, key {JUDGE_KEY}.\nScore: 4/5"], model="gpt-4o-2024-08-06", key=JUDGE_KEY)
    monkeypatch.setenv("TESTED_CREDS", TESTED_KEY)
    monkeypatch.setenv("JUDGE_CREDS", JUDGE_KEY)
    pytester.makeini(endpoints_ini(tested.url, judge.url))
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(
        "--llm-report-json=report.json", "--llm-report-html=report.html", "--llm-report-md=report.md", "-v"
    )
    result.assert_outcomes(passed=1)
    assert [key for _, key in tested.seen] == [TESTED_KEY] and [key for _, key in judge.seen] == [JUDGE_KEY]

    report = json.loads((pytester.path / "report.json").read_text())
    assert sorted(report["run"]["endpoints"]) == ["judge", "tested"]  # by name, not by URL
    [test] = report["tests"]
    assert "<TESTED_CREDS>" in test["calls"][0]["text"]
    recordings = sorted((pytester.path / "llm_recordings").rglob("[!_]*.json"))
    backends = sorted(json.loads(path.read_text())["key"]["backend"]["endpoint"] for path in recordings)
    assert backends == ["judge", "tested"]
    for secret in (TESTED_KEY, JUDGE_KEY, tested.url, judge.url):
        assert not files_holding(pytester.path / "llm_recordings", secret)
    for secret in (TESTED_KEY, JUDGE_KEY):
        assert not files_holding(pytester.path, secret)
        assert secret not in result.stdout.str() + result.stderr.str()


def test_recorded_against_one_server_replays_where_the_endpoint_points_elsewhere(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested = scripted_server(["Tomorrow."], key=TESTED_KEY)
    judge = scripted_server(["Score: 5/5"], key=JUDGE_KEY)
    monkeypatch.setenv("TESTED_CREDS", TESTED_KEY)
    monkeypatch.setenv("JUDGE_CREDS", JUDGE_KEY)
    pytester.makeini(endpoints_ini(tested.url, judge.url))
    pytester.makepyfile(SUITE)
    pytester.runpytest().assert_outcomes(passed=1)

    # CI: the same names point at servers nobody runs, and no key is set.
    monkeypatch.delenv("TESTED_CREDS")
    monkeypatch.delenv("JUDGE_CREDS")
    elsewhere = f"http://127.0.0.1:{free_port()}/v1"
    pytester.makeini(endpoints_ini(elsewhere, elsewhere))
    replay = pytester.runpytest("--llm-record-mode=replay")
    replay.assert_outcomes(passed=1)
    replay.stdout.fnmatch_lines(["2 call(s) replayed, 0 recorded (mode replay)*"])
    assert len(tested.requests) == len(judge.requests) == 1


def test_a_live_call_without_its_endpoints_key_is_an_error_naming_the_variable(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        f"""
        [pytest]
        llm_model = openai@tested:gpt-4o-mini
        llm_endpoints = tested = http://127.0.0.1:{free_port()}/v1 key_env=TESTED_CREDS
        """
    )
    pytester.makepyfile("def test_it(llm):\n    llm.complete('hi')\n")
    result = pytester.runpytest("--llm-record-mode=off")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*openai@tested:gpt-4o-mini needs TESTED_CREDS (key_env of endpoint 'tested' in llm_endpoints)*"]
    )


def test_an_endpoint_without_key_env_sends_no_key_of_the_environment(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server(["fine"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-4f9c2a7e1b8d4e6f")  # the default endpoint's, not this one's
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('hi').text == 'fine'\n")
    result = pytester.runpytest(
        "--llm-model=openai@local:m", f"--llm-endpoints=local = {server.url}", "--llm-record-mode=off"
    )
    result.assert_outcomes(passed=1)
    [(path, key)] = server.seen
    assert path == "/v1/chat/completions" and key != "sk-proj-4f9c2a7e1b8d4e6f"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("judge http://127.0.0.1:9/v1", "'judge http://127.0.0.1:9/v1' does not start with a name*and '='"),
        ("judge =", "endpoint 'judge' has no URL"),
        ("judge = key_env=K", "endpoint 'judge' has no URL"),
        ("judge = ftp://host/v1", "endpoint 'judge': 'ftp://host/v1' is not an http:// or https:// URL"),
        (
            "judge = http://h/v1 key=sk-live-1",
            "endpoint 'judge': 'key=sk-live-1' is not one of key_env=..., api_version=...",
        ),
        ("judge = http://h/v1 key_env=1KEY", "endpoint 'judge': key_env='1KEY' is not an environment variable's name"),
        ("judge = http://h/v1 key_env=A key_env=B", "endpoint 'judge' sets key_env twice"),
        ("judge = http://a/v1; judge = http://b/v1", "endpoint 'judge' is named twice"),
    ],
)
def test_a_bad_entry_is_a_usage_error_naming_the_setting_and_the_entry(
    pytester: pytest.Pytester, entry: str, why: str
) -> None:
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest(f"--llm-endpoints={entry}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*invalid value * for --llm-endpoints: expected lines of `name = URL*({why})*"])


def test_entries_read_from_ini_lines() -> None:
    assert parse_endpoints(
        ["", "judge = https://judge.example/v1 key_env=JUDGE_KEY", "eu=https://eu.example api_version=2024-10-21"]
    ) == {
        "judge": NamedEndpoint("judge", "https://judge.example/v1", "JUDGE_KEY"),
        "eu": NamedEndpoint("eu", "https://eu.example", None, "2024-10-21"),
    }
    with pytest.raises(BadValue):
        parse_endpoints("a.b@c = http://h/v1")


def test_an_unknown_endpoint_in_the_settings_is_a_usage_error_naming_the_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest("--llm-judge-model=openai@judgee:gpt-4o", "--llm-endpoints=judge = http://h/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*model spec 'openai@judgee:gpt-4o' names endpoint 'judgee', which llm_endpoints does not define "
            "(defined: judge); set by --llm-judge-model*"
        ]
    )


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (
            "openai@nowhere:m",
            "model spec 'openai@nowhere:m' names endpoint 'nowhere', which llm_endpoints does not define (defined: none)",
        ),
        ("echo@local:m", "model spec 'echo@local:m': the echo backend calls no named endpoint"),
    ],
)
def test_an_unknown_endpoint_in_a_marker_errors_the_test(pytester: pytest.Pytester, spec: str, why: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm(model="{spec}")
        def test_it(llm):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{why}; set by @pytest.mark.llm*"])


def test_a_named_endpoint_shares_one_adaptive_limit_under_its_name(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    def limited(body: dict[str, Any]) -> Any:
        return "!headers", {"retry-after": "0.05"}, (429, {"error": {"message": "slow down"}})

    answers: list[Any] = [limited({}), "fine"]
    server = scripted_server(answers)
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('hi').text == 'fine'\n")
    result = pytester.runpytest(
        "--llm-model=openai@gateway:m",
        f"--llm-endpoints=gateway = {server.url}",
        "--llm-record-mode=off",
        "--llm-report-json=report.json",
    )
    result.assert_outcomes(passed=1)
    endpoints = json.loads((pytester.path / "report.json").read_text())["run"]["endpoints"]
    assert list(endpoints) == ["gateway"] and endpoints["gateway"]["rate_limited"] == 1


def test_the_default_endpoint_is_keyed_by_its_url_as_before_named_endpoints(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    server = scripted_server(["fine"])
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('hi').text == 'fine'\n")
    pytester.runpytest("--llm-model=openai:m", f"--llm-openai-base-url={server.url}").assert_outcomes(passed=1)
    [recording] = (pytester.path / "llm_recordings").rglob("[!_]*.json")
    assert json.loads(recording.read_text())["key"]["backend"] == {
        "base_url": server.url,
        "model": "m",
        "spec": "openai:m",
    }
