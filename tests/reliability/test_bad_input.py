"""The bad-input catalogue: every way a user can get the input wrong, and the message they get.

Each row is a small suite run with pytester. The message must name the file, test or setting
at fault, the test must end as an ERROR (or the run as a usage error), never as a FAIL or a
silent PASS, and no Python traceback may reach the user.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

ECHO = ("--llm-model", "echo", "-p", "no:cacheprovider")


@dataclass(frozen=True)
class BadInput:
    """One row: the files of a suite, its command line and what it must say (as one ERROR beside
    ``passed`` passing tests, or a usage error)."""

    files: dict[str, str]
    lines: tuple[str, ...]
    args: tuple[str, ...] = ()
    usage_error: bool = False
    passed: int = 0
    #: Run before the suite (e.g. a first run that records what the row then corrupts).
    prepare: Callable[[pytest.Pytester], None] | None = None


CALLS = "def test_it(llm):\n    llm.complete('hi')\n"


def renders(template: str, /, **variables: str) -> str:
    """A test module whose one test renders ``template`` and calls the model with it."""
    arguments = "".join(f", {key}={value!r}" for key, value in variables.items())
    return f"def test_it(llm, prompt):\n    llm.complete(prompt({template!r}{arguments}))\n"


CATALOGUE: dict[str, BadInput] = {
    "malformed template": BadInput(
        {"prompts/greet.jinja": "Hello {{ name }\n", "test_bad.py": renders("greet", name="Ann")},
        (
            "*ERROR at call of test_it*",
            "PromptError: */prompts/greet.jinja, line 1: template syntax error: unexpected '}'",
        ),
    ),
    "undefined variable": BadInput(
        {
            "prompts/greet.jinja": "---\nversion: 2\n---\nHello {{ name }}, from {{ shop }}\n",
            "test_bad.py": renders("greet", name="Ann"),
        },
        (
            "*ERROR at call of test_it*",
            "PromptError: prompt 'greet': undefined variable: 'shop' is undefined (*/prompts/greet.jinja, line 4); you passed: name",
        ),
    ),
    "unknown template": BadInput(
        {"prompts/greet.jinja": "Hello", "test_bad.py": renders("gret")},
        (
            "*ERROR at call of test_it*",
            "PromptError: unknown prompt template 'gret'; templates found: greet, judge_item, judge_pairwise, judge_score",
        ),
    ),
    "include outside the prompts folder": BadInput(
        {
            "secret.jinja": "sk-do-not-read",
            "prompts/greet.jinja": "{% include '../secret' %}",
            "test_bad.py": renders("greet"),
        },
        (
            "*ERROR at call of test_it*",
            "PromptError: prompt 'greet' (*/prompts/greet.jinja, line 1): template '../secret' leaves the prompts "
            "folder */prompts: templates may only include templates inside it",
        ),
    ),
    "corrupt snapshot": BadInput(
        {
            "prompts/greet.jinja": "Hello",
            "__llm_snapshots__/test_bad.yaml": "test_it: [unclosed\n",
            "test_bad.py": renders("greet"),
        },
        ("*ERROR at setup of test_it*", "corrupt snapshot file */__llm_snapshots__/test_bad.yaml: not valid YAML: *"),
    ),
    "corrupt snapshot, read by a golden check": BadInput(
        {
            "__llm_snapshots__/test_bad.yaml": "test_it: [unclosed\n",
            "test_bad.py": "def test_it(golden):\n    golden.check('hi')\n",
        },
        (
            "*ERROR at call of test_it*",
            "GoldenError: corrupt snapshot file */__llm_snapshots__/test_bad.yaml: not valid YAML: *",
        ),
    ),
    "snapshot reference a metric cannot read": BadInput(
        {
            "__llm_snapshots__/test_bad.yaml": "test_it:\n  references:\n    output: not json\n",
            "test_bad.py": "import pytest\n\n@pytest.mark.golden(metric='json_equal')\n"
            "def test_it(golden):\n    golden.check('{}')\n",
        },
        (
            "*ERROR at call of test_it*",
            "GoldenError: metric 'json_equal' against reference 'output' from __llm_snapshots__/test_bad.yaml: "
            "the reference is not valid JSON: *",
        ),
    ),
    "corrupt recording": BadInput(
        {"test_bad.py": "def test_it(llm):\n    llm.complete('hello')\n"},
        (
            "*ERROR at call of test_it*",
            "ModelCallError: test_bad.py::test_it: corrupt recording llm_recordings/test_bad.py/*.json "
            "(JSONDecodeError: *)",
        ),
        args=("--llm-record-mode", "replay"),
        prepare=lambda pytester: _record_then_cut(pytester),
    ),
    "unknown model spec": BadInput(
        {"test_bad.py": "import pytest\n\n@pytest.mark.llm('gpt4:turbo')\ndef test_it(llm):\n    llm.complete('hi')\n"},
        (
            "*ERROR at setup of test_it*",
            "unknown model spec 'gpt4:turbo': no backend for 'gpt4' (known: anthropic:, azure:, echo:, hf:, local:, local-judge:, openai:); "
            "set by @pytest.mark.llm",
        ),
    ),
    "unknown metric": BadInput(
        {
            "test_bad.py": "import pytest\n\n@pytest.mark.golden(metric='rogueL', threshold=0.5)\n"
            "def test_it(llm, golden):\n    golden.check(llm.complete('hi'), reference='hi')\n"
        },
        (
            "*ERROR at setup of test_it*",
            "bad @pytest.mark.golden on test_bad.py::test_it: unknown metric 'rogueL' (did you mean 'rougeL'*?); "
            "known metrics: *",
        ),
    ),
    "invalid threshold": BadInput(
        {
            "test_bad.py": "import pytest\n\n@pytest.mark.golden(metric='rougeL', threshold=1.5)\n"
            "def test_it(llm, golden):\n    golden.check(llm.complete('hi'), reference='hi')\n"
        },
        (
            "*ERROR at setup of test_it*",
            "bad @pytest.mark.golden on test_bad.py::test_it: invalid threshold 1.5 for metric 'rougeL': "
            "expected a number from 0 to 1",
        ),
    ),
    "invalid judge threshold": BadInput(
        {
            "test_bad.py": "import pytest\n\n@pytest.mark.llm_judge(rubric='Polite', threshold=4)\n"
            "def test_it(llm, judge):\n    judge.check(llm.complete('hi'))\n"
        },
        (
            "*ERROR at setup of test_it*",
            "bad @pytest.mark.llm_judge: threshold must be a finite number from 0 to 1 (the score is normalised), got 4",
        ),
    ),
    "invalid marker arguments": BadInput(
        {
            "test_bad.py": "import pytest\n\n@pytest.mark.llm(temperature=0.2, colour='red')\n"
            "def test_it(llm):\n    llm.complete('hi')\n"
        },
        (
            "*ERROR at setup of test_it*",
            "bad arguments to @pytest.mark.llm: got an unexpected keyword argument 'colour' "
            "(it takes model, temperature, max_tokens, top_p, seed, stop, top_logprobs, "
            "tools, tool_choice, parallel_tool_calls, response_format, stream)",
        ),
    ),
    "tools that are not a list of tools": BadInput(
        {"test_bad.py": "import pytest\n\n@pytest.mark.llm(tools={'name': 'lookup'})\n" + CALLS},
        (
            "*ERROR at setup of test_it*",
            "@pytest.mark.llm on test_bad.py::test_it: bad generation setting(s) tools={'name': 'lookup'} "
            '(expected a list of {"type": "function", "function": {...}} tools): '
            "tools must be a list of tools, not dict",
        ),
    ),
    "a tool whose parameters are no JSON Schema": BadInput(
        {
            "test_bad.py": "def test_it(llm):\n    llm.complete('hi', tools=[{'type': 'function', 'function': "
            "{'name': 'lookup', 'parameters': {'type': 'thing'}}}])\n"
        },
        (
            "*ERROR at call of test_it*",
            "*the call's arguments: bad generation setting(s) tools=*: lookup's parameters are not a valid "
            "JSON Schema: 'thing' is not valid under any of the given schemas",
        ),
    ),
    "a tool_choice naming a tool not offered": BadInput(
        {
            "test_bad.py": "def test_it(llm):\n    llm.complete('hi', tool_choice={'type': 'function', "
            "'function': {'name': 'refund'}}, tools=[{'type': 'function', 'function': {'name': 'lookup'}}])\n"
        },
        (
            "*ERROR at call of test_it*",
            "*the request's generation settings: tool_choice names 'refund', which is not among the tools (lookup)",
        ),
    ),
    "a bad response_format in front matter": BadInput(
        {
            "prompts/label.jinja": "---\nresponse_format:\n  type: json_schema\n  json_schema:\n"
            "    name: label\n---\nLabel it.\n",
            "test_bad.py": renders("label"),
        },
        (
            "*ERROR at call of test_it*",
            "*prompts/label.jinja: front matter: bad generation setting(s) response_format=* "
            "response_format's json_schema has no schema",
        ),
    ),
    "invalid marker value": BadInput(
        {
            "test_bad.py": "import pytest\n\n@pytest.mark.golden(metric='rougeL', samples=0)\n"
            "def test_it(llm, golden):\n    golden.check_samples(llm.map(['hi']))\n"
        },
        (
            "*ERROR at setup of test_it*",
            "bad @pytest.mark.golden on test_bad.py::test_it: samples= must be an integer >= 1, not 0",
        ),
    ),
    "invalid setting on the command line": BadInput(
        {"test_bad.py": CALLS},
        ("ERROR: pytest-llmops: invalid value '3' for --llm-temperature: expected a number from 0 to 2.",),
        args=("--llm-temperature", "3"),
        usage_error=True,
    ),
    "invalid setting in the ini file": BadInput(
        {"tox.ini": "[pytest]\nllm_record_mode = sometimes\n", "test_bad.py": CALLS},
        (
            "ERROR: pytest-llmops: invalid value 'sometimes' for llm_record_mode in tox.ini: "
            "expected one of replay, new, all, off.",
        ),
        usage_error=True,
    ),
    "unreadable dataset row": BadInput(
        {
            "cases.jsonl": '{"id": "one", "input": "hi"}\n{"id": "two", "input": "hi"\n',
            "test_bad.py": "import pytest\n\n@pytest.mark.llm_dataset('cases.jsonl')\ndef test_case(case):\n    pass\n",
        },
        (
            "*ERROR at setup of test_case[[]line-2[]]*",
            "cases.jsonl:2: not valid JSON (Expecting ',' delimiter, column *)",
        ),
        passed=1,
    ),
    "dataset row without an id": BadInput(
        {
            "cases.csv": "input,expected\nhi,hi\n",
            "test_bad.py": "import pytest\n\n@pytest.mark.llm_dataset('cases.csv')\ndef test_case(case):\n    pass\n",
        },
        ("*ERROR at setup of test_case[[]line-2[]]*", "cases.csv:2: no 'id' column (the case's id)"),
    ),
    "dataset file that is not a list of cases": BadInput(
        {
            "cases.yaml": "id: one\ninput: hi\n",
            "test_bad.py": "import pytest\n\n@pytest.mark.llm_dataset('cases.yaml')\ndef test_case(case):\n    pass\n",
        },
        (
            "*ERROR collecting test_bad.py*",
            "*@pytest.mark.llm_dataset on test_bad.py::test_case: cases.yaml: expected a list of cases "
            "(one mapping each) at the top level",
        ),
    ),
}


def write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.mark.parametrize("row", CATALOGUE.values(), ids=CATALOGUE.keys())
def test_bad_input_gets_a_clear_message(pytester: pytest.Pytester, row: BadInput) -> None:
    write(pytester, row.files)
    if row.prepare is not None:
        row.prepare(pytester)
    result = pytester.runpytest(*ECHO, *row.args)
    if row.usage_error:
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(list(row.lines))
    else:
        result.assert_outcomes(passed=row.passed, errors=1)
        result.stdout.fnmatch_lines(list(row.lines))
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "site-packages" not in output


def _record_then_cut(pytester: pytest.Pytester) -> None:
    """Record the suite's call, then cut its recording short (as a bad merge might)."""
    pytester.runpytest(*ECHO).assert_outcomes(passed=1)
    [recording] = (pytester.path / "llm_recordings" / "test_bad.py").glob("[0-9a-f]*.json")
    recording.write_text(recording.read_text()[:40])


def test_a_corrupt_recording_is_re_recorded_with_a_warning_in_new_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="def test_it(llm):\n    assert llm.complete('hello').text == 'hello'\n")
    pytester.runpytest(*ECHO).assert_outcomes(passed=1)
    [recording] = (pytester.path / "llm_recordings" / "test_bad.py").glob("[0-9a-f]*.json")
    recording.write_text("[]")
    result = pytester.runpytest(*ECHO)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"*PytestWarning: pytest-llmops: corrupt recording llm_recordings/test_bad.py/{recording.name} "
            "(*); recording it again"
        ]
    )
    assert '"text": "hello"' in recording.read_text()


def test_a_judge_answer_that_never_parses_is_an_error(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(["I would rather not grade this."])
    write(
        pytester,
        {
            "test_bad.py": """
        import pytest

        @pytest.mark.llm_judge(rubric="Polite and helpful", threshold=0.5, model="openai:judge-1")
        def test_it(judge):
            judge.check("Thanks for asking, your parcel ships today.")
    """
        },
    )
    result = pytester.runpytest(
        *ECHO, "--llm-openai-base-url", server.url, "--llm-judge-retries", "2", "--llm-prices", "judge-1 = 0 0"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at call of test_it*",
            "ModelCallError: judge:Polite and helpful: judge openai:judge-1 gave no readable answer in 3 attempt(s) "
            "(*); its last answer: 'I would rather not grade this.'",
        ]
    )
    assert len(server.requests) == 3  # the first answer and two retries with a reminder of the format
    assert "Traceback" not in result.stdout.str()


def test_a_price_table_missing_the_model_warns_naming_the_setting(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(["fine"], model="acme-llm-7")
    write(
        pytester,
        {
            "test_bad.py": """
        def test_it(llm):
            assert llm.complete("hi").cost_usd == 0
    """
        },
    )
    result = pytester.runpytest(*ECHO, "--llm-model", "openai:acme-llm-7", "--llm-openai-base-url", server.url)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PriceWarning: pytest-llmops: no price known for model 'acme-llm-7'; its calls count as $0. "
            'Set one with llm_prices = "acme-llm-7 = <input USD/Mtok> <output USD/Mtok>".'
        ]
    )
