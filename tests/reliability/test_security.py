"""Security: untrusted text stays inert, secrets stay out of files, names stay in their folders.

Model output, server error messages, model names reported by the server, judge reasoning and
test ids are all untrusted: the HTML report shows them as text. The API key and anything that
looks like an Authorization header reach no recording, snapshot or report. A test id or a
template name cannot make the plugin read or write outside its folders, and templates render
in Jinja2's sandbox.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from html_check import LiveElements
from servers import ScriptedServer

pytest_plugins = ["pytester"]

KEY = "sk-test-4f9c2a7e1b8d4e6f9a0b3c5d7e9f1a2b"
AUTHORIZATION = f"Authorization: Bearer {KEY}"
EVIL = (
    '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>"><svg onload=alert(4)>'
)

FULL_SUITE = """
import os
import pytest
import yaml

@pytest.mark.golden(metrics={"exact": 1, "rougeL": 0.5})
def test_golden(llm, prompt, golden):
    golden.check(llm.complete(prompt("ask", question="Where is my parcel?")))

@pytest.mark.llm_judge(rubric="Polite", threshold=0.5, model="openai:judge-1")
def test_judge(llm, judge):
    judge.check(llm.complete("Be polite"), question="Be polite")

def test_header_echo(llm, golden):
    golden.check(llm.complete("show me your headers"))

def test_header_echo_fails(llm, golden):
    golden.check(llm.complete("show me your headers"), reference="nothing")

def test_prompt_quoting_the_key(llm):
    assert llm.complete("My token is " + os.environ["OPENAI_API_KEY"]).text == "My token is <OPENAI_API_KEY>"

def test_template_quoting_the_key(prompt):  # its rendered text lands in the snapshot
    assert os.environ["OPENAI_API_KEY"] in prompt("ask", question="My token is " + os.environ["OPENAI_API_KEY"]).text

def test_key_in_error(llm):
    llm.complete("bad key")

@pytest.mark.parametrize("who", ["<script>alert(5)</script>"])
def test_evil_id(llm, who):
    assert llm.complete(who).text
"""


def answer(body: dict[str, Any]) -> Any:
    """The server: the tested model and the judge, with a server that echoes what it was sent."""
    prompt = body["messages"][-1]["content"]
    if body["model"] == "judge-1":
        return json.dumps({"reasoning": f"fine {EVIL}", "score": 5})
    if prompt == "show me your headers":  # a debugging proxy echoing the request's headers
        return f"{AUTHORIZATION}\nX-Evil: {EVIL}"
    if prompt == "bad key":  # a server quoting the key in its error, as some do
        return 401, {"error": {"message": f"Incorrect API key provided: {KEY} {EVIL}"}}
    return f"{prompt}" if prompt.startswith("My token") else f"{prompt} {EVIL}"


def artifacts(root: Path) -> dict[str, bytes]:
    """Every file the run wrote: recordings, snapshots, reports (not the suite's own sources)."""
    own = {"test_full.py", "prompts/ask.jinja"}
    found = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name not in own and not name.startswith(("runpytest-", ".benchmarks")):
            found[name] = path.read_bytes()
    return found


def assert_no_secret(files: dict[str, bytes]) -> None:
    kinds = {name.split("/")[0] for name in files}
    assert {"llm_recordings", "__llm_snapshots__", "out"} <= kinds
    assert {"out/report.json", "out/report.html", "out/report.md", "out/junit.xml"} <= set(files)
    leaks = {name for name, data in files.items() if KEY.encode() in data or b"Bearer sk-" in data}
    assert leaks == set()


def assert_inert(files: dict[str, bytes]) -> None:
    page = LiveElements(files["out/report.html"].decode())
    page.assert_inert()
    # Output, prompt and reasoning, and the test id: data for the report's script to show as text.
    texts = page.texts()
    assert sum("<script>alert(1)</script>" in text for text in texts) >= 3
    assert any("<script>alert(5)</script>" in text for text in texts)
    markdown = files["out/report.md"].decode()
    assert not re.search(r"(?<!\\)<", markdown)  # every "<" escaped
    junit = ElementTree.fromstring(files["out/junit.xml"])
    assert not [element for element in junit.iter() if element.tag in ("script", "img", "svg", "a")]


def test_a_full_run_leaks_no_secret_and_shows_untrusted_text_as_text(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer]
) -> None:
    """Model calls, golden, judge, every report format, recordings and snapshots; live, then replayed."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server = scripted_server(answer)
    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts" / "ask.jinja").write_text(f"Answer kindly. {EVIL}\n{{{{ question }}}}\n")
    pytester.makepyfile(test_full=FULL_SUITE)
    args = (
        "--llm-model",
        "openai:shop-bot",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-prices",
        "shop-bot = 1 2",
        "--llm-prices",
        "judge-1 = 1 2",
        "-p",
        "no:cacheprovider",
        "--llm-report-json",
        "out/report.json",
        "--llm-report-html",
        "out/report.html",
        "--llm-report-md",
        "out/report.md",
        "--junitxml",
        "out/junit.xml",
    )
    pytester.runpytest(*args, "--llm-snapshot-update").assert_outcomes(passed=6, failed=1, errors=1)
    live = artifacts(pytester.path)
    assert_no_secret(live)
    assert_inert(live)
    # Replayed, the same verdicts: a secret the server echoed was redacted before any test saw it.
    pytester.runpytest(*args, "--llm-record-mode", "replay").assert_outcomes(passed=6, failed=1, errors=1)
    replayed = artifacts(pytester.path)
    assert_no_secret(replayed)
    assert_inert(replayed)


ESCAPING_IDS = ["../../escaped", "/tmp/llmops-absolute", "a/../../../b", "~/home", "C:/Windows"]

IDS_SUITE = f"""
import pytest
import yaml

@pytest.mark.parametrize("name", {ESCAPING_IDS!r}, ids=lambda name: name)
def test_id(llm, golden, name):
    golden.check(llm.complete("hello " + name))
"""


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_test_ids_cannot_write_outside_their_folders(pytester: pytest.Pytester) -> None:
    # Dataset ids like these are refused at collection (test_input_edges.py); parametrize ids reach the store.
    pytester.makepyfile(test_ids=IDS_SUITE)
    outside = pytester.path.parent
    before = tree(outside) - {p for p in tree(outside) if p.startswith(pytester.path.name + "/")}
    args = ("--llm-model", "echo", "-p", "no:cacheprovider")
    pytester.runpytest(*args, "--llm-snapshot-update").assert_outcomes(passed=len(ESCAPING_IDS))
    after = tree(outside) - {p for p in tree(outside) if p.startswith(pytester.path.name + "/")}
    assert after - before == set()
    assert not Path("/tmp/llmops-absolute").exists()
    # Besides the suite and pytest's own bytecode cache (written where bytecode is on).
    written = {p for p in tree(pytester.path) if (pytester.path / p).is_file() and not p.startswith("__pycache__/")}
    written -= {"test_ids.py"}
    assert {name.split("/")[0] for name in written} == {"llm_recordings", "__llm_snapshots__"}
    assert len(
        [name for name in written if name.startswith("llm_recordings/test_ids.py/") and "_index" not in name]
    ) == len(ESCAPING_IDS)
    entries = yaml.safe_load((pytester.path / "__llm_snapshots__" / "test_ids.yaml").read_text())["tests"]
    assert sorted(entries) == sorted(f"test_id[{i}]" for i in ESCAPING_IDS)
    pytester.runpytest(*args, "--llm-record-mode", "replay").assert_outcomes(passed=len(ESCAPING_IDS))


@pytest.mark.parametrize("name", ["../secret", "sub/../../secret", "{root}/secret", "link"])
def test_template_names_cannot_leave_the_prompts_folder(pytester: pytest.Pytester, name: str) -> None:
    (pytester.path / "secret.jinja").write_text("sk-not-for-prompts")
    (pytester.path / "prompts" / "sub").mkdir(parents=True)
    (pytester.path / "prompts" / "link.jinja").symlink_to(pytester.path / "secret.jinja")
    name = name.format(root=pytester.path)
    pytester.makepyfile(
        test_names=f"""
        def test_it(llm, prompt):
            llm.complete(prompt({name!r}))
    """
    )
    result = pytester.runpytest("--llm-model", "echo", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"PromptError: template {name!r} leaves the prompts folder {pytester.path}/prompts: "
            "templates may only include templates inside it"
        ]
    )
    assert "sk-not-for-prompts" not in result.stdout.str()


def test_a_judge_template_outside_the_prompts_folder_is_refused(pytester: pytest.Pytester) -> None:
    (pytester.path / "secret.jinja").write_text("sk-not-for-prompts {{ output }}")
    pytester.makepyfile(
        test_names="""
        import pytest

        @pytest.mark.llm_judge(rubric="Polite", template="../secret")
        def test_it(judge):
            judge.check("hello")
    """
    )
    result = pytester.runpytest("--llm-model", "echo", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["PromptError: template '../secret' leaves the prompts folder *"])


@pytest.mark.parametrize(
    ("template", "unsafe"),
    [
        ("{{ ''.__class__.__mro__ }}", "'__class__' of 'str'"),
        ("{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}", "'__init__' of 'type'"),
        ("{{ lipsum|attr('__globals__') }}", "'__globals__' of 'function'"),
        ("{{ article.__class__.__base__.__subclasses__() }}", "'__class__' of 'str'"),
    ],
    ids=["mro", "os-popen", "attr-filter", "subclasses"],
)
def test_templates_render_in_the_sandbox(pytester: pytest.Pytester, template: str, unsafe: str) -> None:
    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts" / "evil.jinja").write_text(f"Summarise:\n{template}\n")
    pytester.makepyfile(
        test_sandbox="""
        def test_it(llm, prompt):
            llm.complete(prompt("evil", article="A short article."))
    """
    )
    result = pytester.runpytest("--llm-model", "echo", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"PromptError: prompt 'evil': SecurityError: access to attribute {unsafe} object is unsafe. "
            f"({pytester.path}/prompts/evil.jinja, line 2)"
        ]
    )
    assert not (pytester.path / "pwned").exists()
