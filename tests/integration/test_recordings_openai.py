"""Record/replay of the OpenAI backend: recorded from a real llm-katan server, replayed without it."""

from __future__ import annotations

import json
from typing import Callable

import pytest
from servers import KatanServer

pytest_plugins = ["pytester"]


@pytest.mark.slow
def test_openai_calls_recorded_against_katan_replay_with_the_server_stopped(
    pytester: pytest.Pytester, katan: Callable[..., KatanServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = katan()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET")
    pytester.makepyfile(
        """
        import json, os, sys

        def dump(name, out):
            with open(f"{name}.json", "w") as file:
                json.dump(out.to_dict(), file)

        def test_chat(llm):
            out = llm.chat([{"role": "system", "content": "Be terse"}, {"role": "user", "content": "Where is my order?"}])
            assert "Where is my order?" in out.text
            dump("chat", out)

        def test_settings(llm):
            dump("settings", llm.complete("Once upon a time", temperature=0.7, max_tokens=16, seed=3))

        def test_judge_role_shares_the_tests_recordings(llm):
            judge = llm.with_observers(role="judge")
            dump("judge", judge.complete("Rate: Where is my order? 1-5"))
            if os.environ.get("REPLAYING"):  # no client library, no HTTP client
                assert not {"openai", "httpx"} & set(sys.modules)
        """
    )
    args = ("--llm-model", "openai:katan-echo", "--llm-openai-base-url", server.url, "--llm-max-retries", "0")
    pytester.runpytest(*args).assert_outcomes(passed=3)
    live = {name: json.loads((pytester.path / f"{name}.json").read_text()) for name in ("chat", "settings", "judge")}
    written = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert len([p for p in written if p.parent.parent.name == "llm_recordings" and p.name != "_index.json"]) == 3
    assert not [p for p in written if b"sk-test-SECRET" in p.read_bytes()]

    server.stop()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("REPLAYING", "1")
    replay = pytester.runpytest_subprocess(*args, "--llm-record-mode", "replay")
    replay.assert_outcomes(passed=3)
    replay.stdout.fnmatch_lines(["3 call(s) replayed, 0 recorded (mode replay) in llm_recordings/"])
    for name, recorded in live.items():
        replayed = json.loads((pytester.path / f"{name}.json").read_text())
        assert replayed["cached"] and not recorded["cached"]
        # llm-katan's replies carry a timestamp: the replay must give back the recorded one.
        for field in ("text", "prompt_tokens", "completion_tokens", "model", "finish_reason", "cost_usd"):
            assert replayed[field] == recorded[field]
        assert replayed["role"] == ("judge" if name == "judge" else "model")
