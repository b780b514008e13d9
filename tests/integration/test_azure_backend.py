"""The Azure OpenAI backend: the SDK's ``AzureOpenAI`` client over HTTP to a scripted server on
127.0.0.1 that answers Azure's URL shape; recorded, priced by the served model, replayed."""

from __future__ import annotations

import json
from typing import Callable

import pytest
from servers import KatanServer, ScriptedServer, free_port

pytest_plugins = ["pytester"]

Start = Callable[..., ScriptedServer]
KEY = "az-4f9c2a7e1b8d4e6f9a0b"

SUITE = """
import json

def test_chat(llm):
    out = llm.chat([{"role": "system", "content": "Be terse"}, {"role": "user", "content": "Where is my order?"}])
    assert out.text == "Tomorrow."
    with open("out.json", "w") as file:
        json.dump(out.to_dict(), file)
"""


def test_a_deployment_is_called_at_azures_url_with_its_key_priced_by_the_served_model_and_replayed(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server(["Tomorrow."], model="gpt-4o-2024-08-06", key=KEY)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    pytester.makepyfile(SUITE)
    args = ["--llm-model=azure:support-bot", "--llm-azure-api-version=2024-10-21"]
    pytester.runpytest(*args, f"--llm-azure-endpoint={server.root}").assert_outcomes(passed=1)
    [(path, key)] = server.seen
    assert path == "/openai/deployments/support-bot/chat/completions?api-version=2024-10-21" and key == KEY
    [body] = server.requests
    assert body["messages"][0] == {"role": "system", "content": "Be terse"}
    live = json.loads((pytester.path / "out.json").read_text())
    assert (live["model"], live["backend"], live["spec"]) == ("gpt-4o-2024-08-06", "azure", "azure:support-bot")
    assert live["cost_usd"] == pytest.approx((7 * 2.5 + 1 * 10) / 1e6)  # gpt-4o's price, not the deployment's name
    [recording] = (pytester.path / "llm_recordings").rglob("[!_]*.json")
    assert json.loads(recording.read_text())["key"]["backend"] == {
        "base_url": server.root,
        "model": "support-bot",
        "spec": "azure:support-bot",
    }
    assert KEY.encode() not in recording.read_bytes()

    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    replay = pytester.runpytest(*args, f"--llm-azure-endpoint={server.root}", "--llm-record-mode=replay")
    replay.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "out.json").read_text())["cost_usd"] == live["cost_usd"]
    assert len(server.requests) == 1


def test_a_named_azure_endpoint_gives_its_own_api_version_and_key(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server(["Tomorrow."], model="gpt-4o-mini-2024-07-18", key=KEY)
    monkeypatch.setenv("EU_AZURE_KEY", KEY)
    pytester.makeini(
        f"""
        [pytest]
        llm_model = azure@eu:support-bot
        llm_azure_api_version = 2024-02-01
        llm_endpoints = eu = {server.root} key_env=EU_AZURE_KEY api_version=2024-10-21
        """
    )
    pytester.makepyfile(SUITE)
    pytester.runpytest("--llm-record-mode=off").assert_outcomes(passed=1)
    assert server.seen == [("/openai/deployments/support-bot/chat/completions?api-version=2024-10-21", KEY)]


def test_an_azure_error_is_retried_like_openais(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server([("!headers", {"retry-after": "0"}, (429, {"error": {"message": "busy"}})), "Tomorrow."])
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(
        "--llm-model=azure:d", f"--llm-azure-endpoint={server.root}", "--llm-azure-api-version=v1", "-rA"
    )
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--llm-azure-api-version=2024-10-21"], "azure:<deployment> needs llm_azure_endpoint*"),
        ([f"--llm-azure-endpoint=http://127.0.0.1:{free_port()}"], "the azure backend needs an API version*"),
    ],
)
def test_an_azure_spec_without_its_endpoint_or_version_errors_naming_the_setting(
    pytester: pytest.Pytester, args: list[str], why: str
) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--llm-model=azure:d", *args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*cannot load model 'azure:d': {why}; set by llm_model*"])


@pytest.mark.slow
def test_a_deployment_against_llm_katans_azure_api_checking_the_key(
    pytester: pytest.Pytester, katan: Callable[..., KatanServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = katan("--providers", "openai,azure_openai", "--validate-keys", "--api-keys", f"azure_openai={KEY}")
    root = server.url.removesuffix("/v1")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    pytester.makepyfile(
        """
        def test_chat(llm):
            out = llm.complete("Where is my order?")
            assert "User: Where is my order?" in out.text and out.model == "support-bot"
        """
    )
    args = ["--llm-model=azure:support-bot", f"--llm-azure-endpoint={root}", "--llm-azure-api-version=2024-10-21"]
    pytester.runpytest(*args, "--llm-record-mode=off", "--llm-prices=support-bot = 0 0").assert_outcomes(passed=1)

    wrong = "az-WRONG-9a0b3c5d7e9f1a2b"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", wrong)
    refused = pytester.runpytest(*args, "--llm-record-mode=off", "--llm-report-json=report.json")
    refused.assert_outcomes(errors=1)
    refused.stdout.fnmatch_lines(["*azure:support-bot at * answered HTTP 401: invalid API key*"])
    # llm-katan quotes the key it got: the message shows the variable's name instead.
    assert wrong not in refused.stdout.str() and "<AZURE_OPENAI_API_KEY>" in refused.stdout.str()
    assert wrong.encode() not in (pytester.path / "report.json").read_bytes()
