"""The plugin as pytest loads it: settings, the `llm` fixture, markers, errors, backend hooks."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*LLM regression testing (pytest-llmops)*", "*--llm-model=LLM_MODEL*"])
    result.stdout.fnmatch_lines(["*llm_record_mode*"])


def test_echo_completion_carries_usage_and_provenance(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio

        def test_one(llm):
            out = llm.complete("hello there world")
            assert out.text == "hello there world" and str(out) == out.text
            assert (out.prompt_tokens, out.completion_tokens) == (3, 3)
            assert out.model == "echo" and out.backend == "echo"
            assert out.cost_usd == 0 and out.cached is False and out.latency_s >= 0

        def test_map_keeps_order(llm):
            outs = llm.map([f"prompt {i}" for i in range(20)])
            assert [o.text for o in outs] == [f"prompt {i}" for i in range(20)]

        def test_chat_messages_and_async(llm):
            messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
            assert llm.chat(messages).text == "hi"

            async def both():
                return await asyncio.gather(llm.acomplete("a"), llm.acomplete("b"))

            assert [o.text for o in asyncio.run(both())] == ["a", "b"]

        def test_settings_fixture(llm_settings):
            assert llm_settings.model == "echo" and llm_settings.max_tokens == 7
        """
    )
    result = pytester.runpytest("--llm-model", "echo", "--llm-max-tokens", "7")
    result.assert_outcomes(passed=4)


def test_marker_overrides_model_and_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm(model="echo:Bot", max_tokens=3)
        def test_marked(llm):
            assert llm.complete("one two three four").text == "Bot one two"

        def test_call_overrides_marker(llm):
            assert llm.complete("one two three", max_tokens=1).text == "one"
        """
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'model="nowhere:x"',
            "*unknown model spec 'nowhere:x'*known: anthropic:, azure:, echo:, hf:, local:, local-judge:, openai:); set by @pytest.mark.llm",
        ),
        ("bogus=1", "*bad arguments to @pytest.mark.llm*unexpected keyword argument 'bogus'*"),
        ('"echo", "echo"', "*bad arguments to @pytest.mark.llm*too many positional arguments*"),
        ('model="hf:/no/such/model"', "*cannot load model 'hf:/no/such/model'*no model folder*"),
        ('model="openai:"', "*cannot load model 'openai:'*needs a model name*"),
    ],
)
def test_bad_marker_or_model_is_an_error_naming_the_test(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm({marker})
        def test_it(llm):
            pass
        """
    )
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message, "ERROR test_*::test_it*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llm-model", "openai:"], "*cannot load model 'openai:'*; set by llm_model"),
        (
            ["--llm-model", "echo", "--llm-judge-model", "openai:"],
            "*cannot load model 'openai:'*; set by llm_judge_model",
        ),
        (
            ["--llm-model", "openai:"],
            "*cannot load model 'openai:'*; set by llm_model (the tested model, as no judge model is set)",
        ),
    ],
)
def test_a_model_that_cannot_load_names_the_setting_that_chose_it(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_model(llm):
            pass

        @pytest.mark.llm_judge(rubric="Polite")
        def test_judge(judge):
            pass
        """
    )
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines([message])


def test_settings_resolve_cli_then_env_then_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini(
        """
        [pytest]
        llm_model = echo:ini
        llm_openai_base_url = http://ini.invalid/v1
        llm_timeout = 5
        llm_prices =
            gpt-x = 1 2
        """
    )
    pytester.makepyfile(
        """
        def test_settings(llm_settings):
            assert llm_settings.model == "echo:cli"
            assert llm_settings.openai_base_url == "http://env.invalid/v1"
            assert llm_settings.timeout == 5.0
            assert llm_settings.prices == {"gpt-x": (1.0, 2.0)}
        """
    )
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    pytester.runpytest("--llm-model", "echo:cli").assert_outcomes(passed=1)


def test_every_setting_has_an_environment_variable_between_flag_and_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".ini", tox="[pytest]\nllm_model = echo:ini\nllm_timeout = 5\nllm_concurrency = 3\n")
    pytester.makepyfile(
        """
        def test_settings(llm_settings):
            assert llm_settings.model == "echo:env"
            assert llm_settings.timeout == 7.5
            assert llm_settings.concurrency == 2
            assert llm_settings.record_mode == "replay"
            assert llm_settings.prices == {"a": (1.0, 2.0), "b": (0.0, 0.5)}
        """
    )
    monkeypatch.setenv("PYTEST_LLMOPS_MODEL", "echo:env")
    monkeypatch.setenv("PYTEST_LLMOPS_TIMEOUT", "9")
    monkeypatch.setenv("PYTEST_LLMOPS_RECORD_MODE", "replay")
    monkeypatch.setenv("PYTEST_LLMOPS_PRICES", "a = 1 2; b = 0 0.5")
    # The flag wins over the variable, the variable over the ini key; an unset variable leaves the ini.
    pytester.runpytest("--llm-timeout", "7.5", "--llm-concurrency", "2").assert_outcomes(passed=1)

    monkeypatch.setenv("PYTEST_LLMOPS_BUDGET_USD", "lots")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid value 'lots' for environment variable PYTEST_LLMOPS_BUDGET_USD*"])


def test_help_names_each_settings_environment_variable(pytester: pytest.Pytester) -> None:
    help_text = " ".join(pytester.runpytest("--help").stdout.str().split())  # argparse wraps lines
    assert "Env: PYTEST_LLMOPS_RECORD_MODE." in help_text
    assert "Env: PYTEST_LLMOPS_OPENAI_BASE_URL or OPENAI_BASE_URL." in help_text


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--llm-timeout", "-1"],
            "",
            "*invalid value '-1' for --llm-timeout: expected a finite number of seconds > 0*",
        ),
        (["--llm-record-mode", "sometimes"], "", "*--llm-record-mode: expected one of replay, new, all, off*"),
        (
            [],
            "llm_concurrency = many",
            "*invalid value 'many' for llm_concurrency in tox.ini: expected an integer >= 1*",
        ),
        ([], "llm_prices = gpt-x 1 2", "*llm_prices in tox.ini: expected lines of `model = *"),
        (
            ["--llm-max-score-drop-by-metric", "chrf"],
            "",
            "*--llm-max-score-drop-by-metric: expected lines of `metric = <finite number >= 0>`*",
        ),
        (
            [],
            "llm_max_score_drop_by_metric = chrf = -1",
            "*llm_max_score_drop_by_metric in tox.ini: expected lines of `metric = <finite number >= 0>`*",
        ),
        (["--llm-temperature", "3"], "", "*--llm-temperature: expected a number from 0 to 2*"),
    ],
)
def test_bad_setting_stops_the_run_naming_it(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makefile(".ini", tox=f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_model_call_error_is_an_error_not_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_llmops import ModelCallError

        def test_outage(llm):
            raise ModelCallError("openai:gpt-x at http://127.0.0.1:9/v1: connection failed")

        def test_quality(llm):
            assert llm.complete("bad").text == "good"
        """
    )
    result = pytester.runpytest("--llm-model", "echo", "-rA")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at call of test_outage*",
            "ModelCallError: openai:gpt-x at http://127.0.0.1:9/v1: connection failed",
            "*FAILURES*",
            "ERROR *::test_outage*",  # pytest 8 adds " - ModelCallError: ...", pytest 7.4 not
            "FAILED *::test_quality - *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_third_party_backend_registers_from_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_llmops import Generation

        class Shouty:
            batches = False

            def __init__(self, name):
                self.model = f"shouty-{name}"

            def generate(self, requests):
                return [Generation(r.messages[-1].content.upper(), 1, 1, self.model) for r in requests]

        def pytest_llmops_register_backends(register):
            register("shouty", lambda name, settings: Shouty(name), "upper-cases the prompt")
            register("echo", lambda name, settings: Shouty("echo"), "replaces the built-in echo")
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmops.testing import check_backend

        @pytest.mark.llm(model="shouty:v1")
        def test_shouty(llm):
            out = llm.complete("hi")
            assert (out.text, out.model, out.backend) == ("HI", "shouty-v1", "shouty")

        def test_first_registration_wins(llm):
            assert llm.complete("hi").text == "HI"

        def test_contract(llm):
            check_backend(llm.backend)
        """
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=3)


def test_a_backend_that_drops_answers_is_an_error_not_a_misfiled_answer(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_llmops import Generation

        class Forgetful:
            batches = True
            model = "forgetful"

            def generate(self, requests):
                return [Generation("only one", 1, 1, self.model)]

        def pytest_llmops_register_backends(register):
            register("forgetful", lambda name, settings: Forgetful(), "answers one request per batch")
        """
    )
    pytester.makepyfile("def test_two(llm):\n    llm.map(['a', 'b'])\n")
    result = pytester.runpytest("--llm-model", "forgetful:x", "--llm-record-mode", "off")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ModelCallError: forgetful:x: the backend answered 1 of 2 requests"])


def test_price_override_costs_calls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_cost(llm):
            out = llm.complete("one two three four")
            assert out.cost_usd == (4 * 1000 + 4 * 3000) / 1_000_000
        """
    )
    pytester.runpytest("--llm-model", "echo", "--llm-prices", "echo = 1000 3000").assert_outcomes(passed=1)


def test_loading_the_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_echo_run_stays_light(llm):
            llm.complete("hi")
            heavy = {"torch", "transformers", "openai", "anthropic", "numpy", "sacrebleu", "rouge_score",
                     "genai_prices", "sqlalchemy", "psycopg"}
            assert not heavy & set(sys.modules)

        @__import__("pytest").mark.llm(model="local")
        def test_local_spec_resolves_without_loading(llm):
            assert llm.model == "SmolLM2-135M-Instruct"
            assert "torch" not in sys.modules

        @__import__("pytest").mark.llm(model="anthropic@gateway:claude-3-5-haiku-latest")
        def test_server_specs_resolve_without_their_sdks(llm, llm_settings):
            assert llm.model == "claude-3-5-haiku-latest"
            assert not {"anthropic", "openai", "httpx"} & set(sys.modules)
        """
    )
    result = pytester.runpytest_subprocess(
        "--llm-model", "echo", "--llm-endpoints", "gateway = http://127.0.0.1:9", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
