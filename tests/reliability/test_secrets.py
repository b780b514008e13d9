"""Secrets and scrubbed data: one rule, applied before anything is kept, cut short or shown.

The rule: a secret-named environment variable's value that looks like a credential, and
credentials in URLs, are replaced by their names in every form a text can carry them; ordinary
words are left alone; the user's scrubbers run after. Checked on the rule itself, then on full
runs against a scripted server on 127.0.0.1 whose answers quote the secrets back.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, quote_plus

import pytest
from servers import ScriptedServer

from pytest_llmops._redact import Redactor, looks_like_credential, one_line, pattern_scrubber

pytest_plugins = ["pytester"]

ODD_TOKEN = 'ké"y\\Zq9/+&<tok>-4f9c2a7e'  # non-ASCII, a quote, a backslash, URL and HTML specials
FORMS = {
    "raw": lambda v: v,
    "json": lambda v: json.dumps(v)[1:-1],
    "json-unicode": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    "url": lambda v: quote(v, safe=""),
    "url-plus": lambda v: quote_plus(v, safe=""),
    "html": lambda v: html.escape(v),
}


@pytest.mark.parametrize("form", FORMS)
def test_a_secret_is_replaced_in_every_form_a_text_carries_it(form: str) -> None:
    redactor = Redactor.for_run({"SERVICE_TOKEN": ODD_TOKEN})
    carried = FORMS[form](ODD_TOKEN)
    assert redactor.text(f"before {carried} after") == "before <SERVICE_TOKEN> after"


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("OPENAI_API_KEY", "sk-proj-4f9c2a7e1b8d4e6f", True),
        ("GITHUB_TOKEN", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", True),
        ("DB_PASSWORD", "correct-horse-battery", True),  # 21 characters, two kinds
        ("SIGNING_SECRET", "abcdefghijklmnopqrstuvwxyz", True),  # 24+ characters of one kind
        ("POSTGRES_PASSWORD", "postgres", False),  # a word
        ("STATS_KEY", "duration", False),
        ("SORT_KEY", "created_at", False),  # too short to tell from a name
        ("API_TOKEN", "not a token at all", False),  # a phrase
        ("HOME", "sk-proj-4f9c2a7e1b8d4e6f", False),  # the name marks no secret
        ("MONKEY_PATH", "sk-proj-4f9c2a7e1b8d4e6f", False),  # KEY only as a whole word
    ],
)
def test_the_rule_tells_credentials_from_words(name: str, value: str, secret: bool) -> None:
    text = f"the value is {value}."
    assert (Redactor.for_run({name: value}).text(text) != text) is secret


def test_ordinary_text_and_report_keys_survive_words_in_secret_named_variables() -> None:
    redactor = Redactor.for_run({"POSTGRES_PASSWORD": "postgres", "STATS_KEY": "duration"})
    report = {"duration": 1.5, "output": "connect to postgres for the duration of the test"}
    assert redactor.data(report) == report


def test_a_path_is_where_a_secret_is_kept_not_the_secret(tmp_path: Path) -> None:
    credentials = tmp_path / "service-account-credentials.json"
    credentials.write_text("{}")
    assert not looks_like_credential(str(credentials))


@pytest.mark.parametrize(
    "url",
    [
        "https://alice:s3cr3t-Passw0rd@gateway.example/v1",
        "http://bob:pa55@127.0.0.1:8080/v1/chat?api-key=AbC123xyz789",
        "https://gateway.example/v1?token=AbC123xyz789&x=1",
        "https://gateway.example/v1?x=1&sig=AbC123xyz789",
    ],
)
def test_credentials_in_any_url_are_replaced(url: str) -> None:
    shown = Redactor().text(f"calling {url} failed")
    for part in ("s3cr3t-Passw0rd", "alice", "pa55", "bob", "AbC123xyz789"):
        assert part not in shown
    assert "<redacted>" in shown and ("gateway.example" in shown or "127.0.0.1" in shown)


def test_the_configured_server_url_gives_its_credentials_as_secrets() -> None:
    redactor = Redactor.for_run({}, ["https://alice:s3cr3t-Passw0rd@gateway.example/v1?api-key=Zq9x8w7v6u5t"])
    assert redactor.text("password s3cr3t-Passw0rd, key Zq9x8w7v6u5t") == "password <redacted>, key <redacted>"


def test_a_message_is_redacted_before_it_is_cut_short() -> None:
    from pytest_llmops import _redact

    key = "sk-live-4f9c2a7e1b8d4e6f9a0b3c5d7e9f1a2b"
    _redact.install(lambda: Redactor.for_run({"OPENAI_API_KEY": key}))
    try:
        line = one_line("x" * 180 + " Incorrect API key provided: " + key)
    finally:
        _redact.install(None)
    assert len(line) <= 200 and "sk-live" not in line and "4f9c2a7e" not in line


def test_a_failing_scrubber_withholds_the_text_rather_than_let_it_through() -> None:
    def broken(text: str) -> str:
        raise RuntimeError(text)

    shown = Redactor(scrubbers=[broken]).text("customer alice@example.com")
    assert "alice" not in shown and shown.startswith("<withheld: scrubber")


@pytest.mark.parametrize(
    "secrets", [{}, {"Zq9x8w7v6u5tAbC1": "<KEY>"}, {ODD_TOKEN: "<ODD>"}], ids=["none", "plain", "odd"]
)
@pytest.mark.parametrize(
    "text",
    [
        "no secret here",
        "key Zq9x8w7v6u5tAbC1",
        f"odd {json.dumps(ODD_TOKEN)[1:-1]} and {ODD_TOKEN}",
        "line\nhttps://alice:pw@host/v1",
        "a\x01http://bob:pa55@host",
        "x?token=\x01abc&y=1",
        "http://127.0.0.1:8080/v1",
    ],
)
def test_a_json_encoding_is_redacted_as_its_data_would_be(secrets: dict[str, str], text: str) -> None:
    from pytest_llmops._files import json_text

    redactor = Redactor(secrets)
    value = {"backend": {"base_url": text, text: [text, 1.5, None]}, "request": {"messages": [{"content": text}]}}
    for encode in (json_text, json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode):
        assert redactor.encoded(value, encode) == encode(redactor.data(value))


PLAIN = {"nodeid": "t::x", "texts": ["no secret here", "a=b", "see https://host/v1", 1.5, float("nan"), None, True]}


@pytest.mark.parametrize(
    ("secrets", "scrubbers", "value", "walked"),
    [
        ({}, [], PLAIN, False),
        ({"Zq9x8w7v6u5tAbC1": "<KEY>"}, [], PLAIN, False),
        ({"Zq9x8w7v6u5tAbC1": "<KEY>"}, [], {**PLAIN, "error": "key Zq9x8w7v6u5tAbC1 refused"}, True),
        ({"Zq9x8w7v6u5tAbC1": "<KEY>"}, [], {"extra": {"Zq9x8w7v6u5tAbC1": 1}}, True),  # in a key
        ({"Zq9x8w7v6u5tAbC1": "<KEY>"}, [], {"texts": [json.dumps("Zq9x8w7v6u5tAbC1")]}, True),
        ({ODD_TOKEN: "<ODD>"}, [], PLAIN, True),  # a form JSON escapes: always walked
        ({}, [], {"texts": ["line\nhttps://alice:pw@host/v1", "a\x01http://bob:pa55@host"]}, True),
        ({}, [], {"texts": ["x?token=\x01abc&y=1"]}, True),
        ({}, [pattern_scrubber("^no secret here$")], PLAIN, True),  # a scrubber may match anything
        ({}, [], {"texts": {"a set", "is not JSON"}}, True),
    ],
    ids=[
        "nothing",
        "secret-absent",
        "secret-in-a-value",
        "secret-in-a-key",
        "secret-json-quoted",
        "odd-secret",
        "url-userinfo",
        "url-param",
        "anchored-scrubber",
        "not-json",
    ],
)
def test_data_is_walked_only_when_its_encoding_shows_something_to_replace(
    secrets: dict[str, str], scrubbers: list[Callable[[str], str]], value: Any, walked: bool
) -> None:
    redactor = Redactor(secrets, scrubbers)
    shown = redactor.data(value)
    assert shown == redactor._walked(value)  # the shortcut and the walk agree
    assert (shown is not value) == walked  # and the shortcut is taken only when nothing can change
    assert "Zq9x8w7v6u5tAbC1" not in json.dumps(shown, default=sorted)


# -- full runs ---------------------------------------------------------------------------------

KEY = "sk-rot-1-4f9c2a7e1b8d4e6f9a0b3c5d7e9f1a2b"
ROTATED = "sk-rot-2-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
URL_PASSWORD = "pa55-W0rd-in-url"
URL_KEY = "Qk9z8y7x6w5v4u3t"

SUITE = """
import os

def test_echo(llm):
    answer = llm.complete("My token is " + os.environ["OPENAI_API_KEY"] + " and mail me at alice@example.com")
    assert "alice@example.com" not in answer.text

def test_long_error(llm):
    llm.complete("long error")
"""


def answer(body: dict[str, Any]) -> Any:
    """Quotes back what it was sent; a long 401 quoting the key past the 200th character."""
    prompt = body["messages"][-1]["content"]
    if prompt == "long error":
        return 401, {"error": {"message": "x" * 170 + f" Incorrect API key provided: {KEY}"}}
    return f"You said: {prompt} (server {URL_PASSWORD} {URL_KEY})"


def written(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(errors="replace")
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in (".json", ".yaml", ".html", ".md", ".xml")
    }


def test_no_secret_or_scrubbed_text_reaches_a_file_or_the_terminal_and_replay_survives_a_rotated_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(answer)
    base_url = server.url.replace("http://", f"http://user:{URL_PASSWORD}@") + f"?api-key={URL_KEY}"
    pytester.makepyfile(test_inner_secrets=SUITE)
    pytester.makeconftest("""
        import re

        def pytest_llmops_register_scrubbers(register):
            register(lambda text: re.sub(r"[\\w.]+@example\\.com", "<email>", text))
    """)
    args = (
        "--llm-model",
        "openai:shop-bot",
        "--llm-openai-base-url",
        base_url,
        "--llm-max-retries",
        "0",
        "--llm-report-json",
        "out/report.json",
        "--llm-report-html",
        "out/report.html",
        "--llm-report-md",
        "out/report.md",
        "--junitxml",
        "out/junit.xml",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_level=INFO",
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    live = pytester.runpytest(*args)
    live.assert_outcomes(passed=1, errors=1)
    live.stdout.fnmatch_lines(
        ["*answered HTTP 401: xxx*", "*HTTP Request: POST http://<redacted>@127.0.0.1:*?api-key=<redacted>*"]
    )
    files = written(pytester.path)
    assert any(name.startswith("llm_recordings/") for name in files)
    recording = next(
        text for name, text in files.items() if name.startswith("llm_recordings/") and "_index" not in name
    )
    assert "<OPENAI_API_KEY>" in recording and "<email>" in recording and "<redacted>" in recording
    secrets = (KEY, KEY[:16], URL_PASSWORD, URL_KEY, "alice@example.com")
    for shown in [live.stdout.str(), *files.values()]:
        assert not [secret for secret in secrets if secret in shown]
    # The key rotates: the recording's name and key never held it, so replay still finds it.
    monkeypatch.setenv("OPENAI_API_KEY", ROTATED)
    replayed = pytester.runpytest(*args, "--llm-record-mode", "replay", "-k", "echo")
    replayed.assert_outcomes(passed=1)


def test_llm_scrub_patterns_apply_to_recordings_and_reports(pytester: pytest.Pytester) -> None:
    pytester.makeini(r"""
        [pytest]
        llm_scrub =
            \b\d{4}-\d{4}-\d{4}-\d{4}\b
            (?i)customer no\. \d+
    """)
    pytester.makepyfile(
        test_scrub="""
        def test_it(llm):
            llm.complete("Card 4111-1111-1111-1111 of Customer No. 4471")
    """
    )
    pytester.runpytest("--llm-model", "echo", "--llm-report-json", "report.json").assert_outcomes(passed=1)
    files = written(pytester.path)
    assert [name for name in files if name.startswith("llm_recordings/")]
    for text in files.values():
        assert "4111" not in text and "4471" not in text
    assert "<scrubbed>" in files["report.json"]


def test_a_bad_scrub_pattern_is_a_usage_error_naming_the_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it="def test_it(): pass")
    result = pytester.runpytest("--llm-scrub", "([unclosed")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*invalid value '([unclosed' for --llm-scrub: expected lines of valid regular expressions*"]
    )


def test_scrubbers_of_conftests_collected_late_apply_even_after_a_log_record_during_collection(
    pytester: pytest.Pytester,
) -> None:
    """A log record while collecting builds the redactor before ``zsub/conftest.py`` loads."""
    pytester.makepyfile(
        test_first="import logging\nlogging.getLogger('app').warning('collecting')\n\ndef test_nothing():\n    pass\n"
    )
    sub = pytester.mkpydir("zsub")
    (sub / "conftest.py").write_text(
        "def pytest_llmops_register_scrubbers(register):\n"
        "    register(lambda text: text.replace('alice@example.com', '<email>'))\n"
    )
    (sub / "test_late.py").write_text("def test_it(llm):\n    llm.complete('mail alice@example.com')\n")
    result = pytester.runpytest(
        "--llm-model", "echo", "--log-file", "run.log", "--log-file-level", "INFO", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)
    assert "collecting" in (pytester.path / "run.log").read_text()
    files = written(pytester.path)
    assert [name for name in files if name.startswith("llm_recordings/")]
    assert not [name for name, text in files.items() if "alice@example.com" in text]


def test_report_data_with_nothing_to_replace_is_not_copied() -> None:
    from pytest_llmops import _redact

    key = "sk-" + "B7x" * 10
    _redact.install(lambda: Redactor.for_run({"OPENAI_API_KEY": key}))
    try:
        clean = {"tests": [{"calls": [{"text": "fine", "request": {"settings": {"stop": ["\n"]}}}]}]}
        assert _redact.redact_data(clean) is clean  # held once, not twice
        leaky = {"tests": [{"calls": [{"text": f"key {key}"}]}], "note": "fine"}
        redacted = _redact.redact_data(leaky)
        assert redacted == {"tests": [{"calls": [{"text": "key <OPENAI_API_KEY>"}]}], "note": "fine"}
        assert leaky["tests"][0]["calls"][0]["text"] == f"key {key}"  # the input is left alone
        odd = {"path": Path(key), "text": key}  # not JSON-safe: walked
        assert _redact.redact_data(odd)["text"] == "<OPENAI_API_KEY>"
    finally:
        _redact.install(None)
