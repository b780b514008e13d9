"""Trust at the edges, the input: every generation setting checked by the one table wherever it
is set, model specs checked at start-up, and names that cannot name a file or a test refused.

Bad input is an ERROR naming where it was given (or a usage error at start-up, once), never a
FAIL, a PASS or a traceback.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from pytest_llmops._calls.pipeline import check_settings
from pytest_llmops._datasets import BadRow, Dataset, load_cases
from pytest_llmops._models.base import GenerationSettings, Message, Request
from pytest_llmops._models.generation import RULES, GenerationSettingError, checked, from_text
from pytest_llmops._prompts import PromptError, PromptLibrary

pytest_plugins = ["pytester"]

ECHO = ("--llm-model", "echo", "-p", "no:cacheprovider")

# -- the table ---------------------------------------------------------------------------

GOOD = [
    ("temperature", 0, 0),
    ("temperature", 2, 2),
    ("temperature", 0.7, 0.7),
    ("top_p", 1, 1),
    ("top_p", 0.01, 0.01),
    ("max_tokens", 1, 1),
    ("max_tokens", 1_000_000, 1_000_000),
    ("seed", 0, 0),
    ("seed", -5, -5),
    ("seed", 2**63 - 1, 2**63 - 1),
    ("stop", "\n", ("\n",)),
    ("stop", ["a", "b"], ("a", "b")),
    ("stop", [], ()),
    ("top_logprobs", 0, 0),
    ("top_logprobs", 20, 20),
]

BAD = [
    ("temperature", math.nan),
    ("temperature", math.inf),
    ("temperature", -0.1),
    ("temperature", 2.01),
    ("temperature", True),
    ("temperature", "0.5"),
    ("temperature", 10**400),
    ("temperature", [0.1]),
    ("top_p", 0),
    ("top_p", 1.5),
    ("top_p", math.nan),
    ("top_p", False),
    ("max_tokens", 0),
    ("max_tokens", -1),
    ("max_tokens", True),
    ("max_tokens", 1.5),
    ("max_tokens", 10**30),
    ("max_tokens", "5"),
    ("max_tokens", math.inf),
    ("seed", True),
    ("seed", 1.5),
    ("seed", 2**63),
    ("seed", "7"),
    ("stop", ""),
    ("stop", [""]),
    ("stop", [1]),
    ("stop", 3),
    ("stop", {"a": 1}),
    ("stop", b"x"),
    ("top_logprobs", 21),
    ("top_logprobs", -1),
    ("top_logprobs", True),
    ("top_logprobs", 2.0),
]


def test_the_table_has_a_rule_for_every_generation_setting() -> None:
    assert list(RULES) == list(vars(GenerationSettings()))


@pytest.mark.parametrize(("name", "value", "used"), GOOD)
def test_good_values_pass_as_used(name: str, value: object, used: object) -> None:
    assert checked({name: value}, "here") == {name: used}


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_values_are_refused_naming_where_the_setting_and_what_it_accepts(name: str, value: object) -> None:
    with pytest.raises(GenerationSettingError) as error:
        checked({name: value}, "the marker")
    assert str(error.value) == (
        f"the marker: bad generation setting(s) {name}={value!r} (expected {RULES[name].accepted})"
    )


def test_every_bad_value_is_listed_and_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(GenerationSettingError, match=r"temperature=nan .*; max_tokens=0 "):
        checked({"temperature": math.nan, "max_tokens": 0}, "x")
    with pytest.raises(GenerationSettingError) as error:
        checked({"temprature": 0.1, "top_k": 3}, "x")
    assert str(error.value) == ("x: unknown generation setting(s) temprature, top_k; known: " + ", ".join(RULES))


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [("temperature", "0.5", 0.5), ("max_tokens", " 64 ", 64), ("seed", "-3", -3), ("top_p", "1", 1.0)],
)
def test_ini_text_reads_as_the_setting(name: str, text: str, value: object) -> None:
    assert from_text(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("temperature", "nan"),
        ("temperature", "inf"),
        ("temperature", "1e400"),
        ("max_tokens", "true"),
        ("max_tokens", "1.5"),
        ("max_tokens", "9" * 30),
        ("seed", "1.5"),
        ("seed", "9" * 30),
        ("top_p", "0"),
    ],
)
def test_bad_ini_text_is_refused(name: str, text: str) -> None:
    with pytest.raises(ValueError):
        from_text(name, text)


@pytest.mark.parametrize(
    "settings",
    [
        GenerationSettings(temperature=math.nan),
        GenerationSettings(max_tokens=True),  # type: ignore[arg-type]
        GenerationSettings(temperature=None),
        GenerationSettings(stop=("",)),
    ],  # type: ignore[arg-type]
)
def test_a_request_built_by_hand_is_checked_by_the_same_table(settings: GenerationSettings) -> None:
    with pytest.raises(GenerationSettingError, match="^the request's generation settings: bad generation"):
        check_settings(Request(messages=(Message("user", "hi"),), settings=settings))


def test_settings_found_good_once_do_not_let_an_equal_bad_value_through() -> None:
    for _ in range(2):  # the second time, the good ones are remembered
        check_settings(Request(messages=(Message("user", "hi"),), settings=GenerationSettings(seed=1, max_tokens=1)))
        for bad in (GenerationSettings(seed=True), GenerationSettings(max_tokens=True), GenerationSettings(stop=[""])):  # type: ignore[arg-type]
            with pytest.raises(GenerationSettingError):  # True == 1 and hashes alike; a list cannot be hashed
                check_settings(Request(messages=(Message("user", "hi"),), settings=bad))


# -- every site that sets a generation setting -----------------------------------------------

# (setting, the value as Python source, the same value as YAML)
BAD_SOURCES = [
    ("temperature", "float('nan')", ".nan"),
    ("temperature", "float('inf')", ".inf"),
    ("temperature", "2.5", "2.5"),
    ("temperature", "True", "true"),
    ("temperature", "'0.5'", "'0.5'"),
    ("top_p", "0", "0"),
    ("max_tokens", "0", "0"),
    ("max_tokens", "10**30", "1000000000000000000000000000000"),
    ("max_tokens", "1.5", "1.5"),
    ("seed", "True", "true"),
    ("seed", "2**70", "1180591620717411303424"),
    ("stop", "''", "''"),
    ("stop", "['', 'x']", "['', 'x']"),
    ("stop", "[1]", "[1]"),
    ("top_logprobs", "21", "21"),
]


def _marker_site(pytester: pytest.Pytester, setting: str, python: str, yaml: str) -> str:
    pytester.makepyfile(
        test_it=f"""
        import pytest

        @pytest.mark.llm({setting}={python})
        def test_it(llm):
            llm.complete("hi")
    """
    )
    return "@pytest.mark.llm on test_it.py::test_it"


def _call_site(pytester: pytest.Pytester, setting: str, python: str, yaml: str) -> str:
    pytester.makepyfile(
        test_it=f"""
        def test_it(llm):
            llm.complete("hi", {setting}={python})
    """
    )
    return "the call's arguments"


def _front_matter_site(pytester: pytest.Pytester, setting: str, python: str, yaml: str) -> str:
    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts" / "greet.jinja").write_text(f"---\n{setting}: {yaml}\n---\nHello\n")
    pytester.makepyfile(
        test_it="""
        def test_it(llm, prompt):
            llm.complete(prompt("greet"))
    """
    )
    return "*/prompts/greet.jinja: front matter"


SITES = {"marker": _marker_site, "call": _call_site, "front matter": _front_matter_site}


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize(("setting", "python", "yaml"), BAD_SOURCES, ids=[f"{s}={p}" for s, p, _ in BAD_SOURCES])
def test_a_bad_setting_is_an_error_naming_the_site(
    pytester: pytest.Pytester, site: str, setting: str, python: str, yaml: str
) -> None:
    where = SITES[site](pytester, setting, python, yaml)
    result = pytester.runpytest(*ECHO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*{where}: bad generation setting(s) {setting}=* (expected {RULES[setting].accepted})"]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("test", "line"),
    [
        (
            "llm.complete('hi', temprature=0.1)",
            "*the call's arguments: unknown generation setting(s) temprature; known: temperature, max_tokens, *",
        ),
        ("llm.map(['hi'], colour='red')", "*the call's arguments: unknown generation setting(s) colour; known: *"),
    ],
)
def test_an_unknown_call_argument_is_an_error_listing_the_known_settings(
    pytester: pytest.Pytester, test: str, line: str
) -> None:
    pytester.makepyfile(test_it=f"def test_it(llm):\n    {test}\n")
    result = pytester.runpytest(*ECHO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([line])


def test_the_llm_marker_takes_every_setting_of_the_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.llm("echo", temperature=0.3, max_tokens=2, top_p=0.9, seed=4, stop="!", top_logprobs=2)
        def test_it(llm, llm_record):
            llm.complete("one two three")
            settings = llm_record.calls[0]["request"]["settings"]
            assert settings == {"temperature": 0.3, "max_tokens": 2, "top_p": 0.9, "seed": 4, "stop": ["!"],
                                "top_logprobs": 2}
    """
    )
    pytester.runpytest(*ECHO).assert_outcomes(passed=1)
    markers = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.llm(model=None, *, " + ", ".join(f"{name}=None" for name in RULES) + ")" in markers


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("llm_temperature", "nan"),
        ("llm_temperature", "inf"),
        ("llm_temperature", "-1"),
        ("llm_judge_temperature", "2.5"),
        ("llm_max_tokens", "0"),
        ("llm_max_tokens", "true"),
        ("llm_max_tokens", "1" + "0" * 30),
        ("llm_seed", "1.5"),
        ("llm_seed", "9" * 30),
    ],
)
@pytest.mark.parametrize("given", ["flag", "ini"])
def test_a_bad_setting_in_the_ini_or_a_flag_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, option: str, text: str, given: str
) -> None:
    pytester.makepyfile(test_it="def test_it(llm):\n    llm.complete('hi')\n")
    setting = option.removeprefix("llm_judge_").removeprefix("llm_")
    if given == "flag":
        flag = "--" + option.replace("_", "-")
        result = pytester.runpytest(*ECHO, flag, text)
        where = flag
    else:
        pytester.makeini(f"[pytest]\n{option} = {text}\n")
        result = pytester.runpytest(*ECHO)
        where = f"{option} in tox.ini"
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: pytest-llmops: invalid value '{text}' for {where}: expected {RULES[setting].accepted}."]
    )


# -- model specs ------------------------------------------------------------------------------

KNOWN = "anthropic:, azure:, echo:, hf:, local:, local-judge:, openai:"


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--llm-model", "bogus:x"], "", f"unknown model spec 'bogus:x' for --llm-model: known prefixes are {KNOWN}"),
        (
            [],
            "llm_model = bogus:x",
            f"unknown model spec 'bogus:x' for llm_model in tox.ini: known prefixes are {KNOWN}",
        ),
        (
            ["--llm-judge-model", "nope"],
            "",
            f"unknown model spec 'nope' for --llm-judge-model: known prefixes are {KNOWN}",
        ),
        (
            [],
            "llm_judge_model = gpt4:turbo",
            f"unknown model spec 'gpt4:turbo' for llm_judge_model in tox.ini: known prefixes are {KNOWN}",
        ),
    ],
)
def test_an_unknown_model_spec_in_the_settings_is_one_usage_error(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(
        test_it="""
        def test_one(llm):
            llm.complete("hi")

        def test_two(llm):
            llm.complete("hi")
    """
    )
    result = pytester.runpytest("--llm-model", "echo", *args) if "llm_model" not in ini else pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-llmops: {message}"])
    assert result.stderr.str().count("unknown model spec") == 1
    assert "test_one" not in result.stdout.str()


def test_a_spec_of_a_backend_a_conftest_registers_passes_the_start_up_check(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        from pytest_llmops._models.echo import EchoBackend

        def pytest_llmops_register_backends(register):
            register("mine", lambda name, settings: EchoBackend(name))
    """)
    pytester.makepyfile(test_it="def test_it(llm):\n    assert llm.complete('hi').text.endswith('hi')\n")
    pytester.runpytest("--llm-model", "mine:bot", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_an_unknown_model_spec_under_xdist_is_still_one_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it="def test_it(llm):\n    llm.complete('hi')\n")
    result = pytester.runpytest_subprocess("-n", "2", "--llm-model", "bogus:x", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (result.stdout.str() + result.stderr.str()).count("unknown model spec 'bogus:x' for --llm-model") == 1


# -- names that cannot name a file or a test ---------------------------------------------------

BAD_NAMES = ["a\x00b", "", "a\nb", "tab\there", "a\\b", "x" * 256, "é" * 128, "sub/\x7f"]


@pytest.mark.parametrize("name", BAD_NAMES + [5, None, b"greet"])
def test_a_bad_template_name_is_a_prompt_error_naming_it(tmp_path: object, name: object) -> None:
    with pytest.raises(PromptError) as error:
        PromptLibrary(tmp_path).render(name)  # type: ignore[arg-type]
    assert str(error.value).startswith(f"bad prompt template name {name!r}: ")


@pytest.mark.parametrize("name", ["a\x00b", "", "a\\b", "x" * 300, "sub/\x1b[31m"])
def test_a_bad_template_name_in_a_test_is_an_error_not_a_failure(pytester: pytest.Pytester, name: str) -> None:
    pytester.makepyfile(test_it=f"def test_it(llm, prompt):\n    llm.complete(prompt({name!r}))\n")
    result = pytester.runpytest(*ECHO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*PromptError: bad prompt template name *"])
    assert "Traceback" not in result.stdout.str()


def test_a_bad_template_name_of_a_dataset_is_an_error_of_its_case(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", cases='{"id": "one", "input": "hi"}')
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.llm_dataset("cases.jsonl", prompt="a\\x00b")
        def test_case(case):
            pass
    """
    )
    result = pytester.runpytest(*ECHO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*case 'one' at cases.jsonl:1: bad prompt template name 'a\\x00b': *"])


# (file, its text with a good first row and the bad second one)
BAD_ID_FILES = [
    ("cases.jsonl", json.dumps({"id": "a/b", "input": "x"})),
    ("cases.jsonl", json.dumps({"id": "a\x00b", "input": "x"})),
    ("cases.jsonl", json.dumps({"id": "", "input": "x"})),
    ("cases.jsonl", json.dumps({"id": "x" * 300, "input": "x"})),
    ("cases.jsonl", json.dumps({"id": 1.5, "input": "x"})),
    ("cases.jsonl", json.dumps({"id": True, "input": "x"})),
    ("cases.jsonl", json.dumps({"id": None, "input": "x"})),
    ("cases.jsonl", json.dumps({"id": ["x"], "input": "x"})),
    ("cases.jsonl", json.dumps({"id": 1, "input": "x"})),  # "1" is taken by the first row
    ("cases.csv", "..\\up,x"),
    ("cases.csv", ",x"),
    ("cases.yaml", "- id: 2.5\n  input: x"),
    ("cases.yaml", "- id: yes\n  input: x"),
    ("cases.yaml", '- id: "a\\tb"\n  input: x'),
]
FIRST_ROW = {
    "cases.jsonl": '{"id": "1", "input": "x"}\n',
    "cases.csv": "id,input\n1,x\n",
    "cases.yaml": "- id: '1'\n  input: x\n",
}
SECOND_LINE = {"cases.jsonl": 2, "cases.csv": 3, "cases.yaml": 3}


@pytest.mark.parametrize(("name", "row"), BAD_ID_FILES)
def test_a_bad_dataset_id_errors_its_own_row_naming_file_line_and_id(
    pytester: pytest.Pytester, name: str, row: str
) -> None:
    (pytester.path / name).write_text(FIRST_ROW[name] + row + "\n")
    pytester.makepyfile(
        test_it=f"""
        import pytest

        @pytest.mark.llm_dataset({name!r})
        def test_case(case):
            pass
    """
    )
    result = pytester.runpytest(*ECHO)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*ERROR at setup of test_case[[]line-{SECOND_LINE[name]}[]]*",
            f"{name}:{SECOND_LINE[name]}: *id *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("value", ["a/b", "a\x00b", "", " ", "x" * 256, 1.5, True, None, {"a": 1}])
def test_a_bad_id_names_the_row_and_the_id(tmp_path: object, value: object) -> None:
    path = tmp_path / "c.jsonl"  # type: ignore[operator]
    path.write_text(json.dumps({"id": value, "input": "x"}) + "\n")
    [row] = load_cases(Dataset(path, "c.jsonl"))
    assert isinstance(row, BadRow) and row.id == "line-1"
    assert re.match(r"^c\.jsonl:1: id .* (cannot name a test: it|is a \w+: an id is)", row.message)


def test_integer_and_text_ids_name_their_tests(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", cases='{"id": 7, "input": "x"}\n{"id": "text ok", "input": "y"}\n')
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.llm_dataset("cases.jsonl")
        def test_case(case):
            pass
    """
    )
    result = pytester.runpytest(*ECHO, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_case[[]7[]] PASSED*", "*test_case[[]text ok[]] PASSED*"])
