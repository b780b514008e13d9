"""Every setting of the plugin: declared once, resolved once (CLI, then env, then ini).

Each :class:`Option` gives one ``--llm-*`` flag, one ``PYTEST_LLMOPS_*`` environment variable
and one ``llm_*`` ini key sharing a help string. :func:`resolve` turns them into a frozen :class:`Settings` at configure time; a bad
value raises :class:`~pytest_llmops.errors.ConfigError` (a usage error at start-up) naming where the value came from and what is accepted.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal

import pytest

from pytest_llmops._models import generation
from pytest_llmops._shards import Shard
from pytest_llmops.errors import BadValue, ConfigError

if TYPE_CHECKING:
    from pytest_llmops._models.named_endpoints import NamedEndpoint
    from pytest_llmops._variants import Variant

RECORD_MODES = ("replay", "new", "all", "off")
DEVICES = ("auto", "cpu", "cuda")
JUDGE_AGGREGATES = ("mean", "median", "majority")
MISSING_KINDS = ("metrics", "tests")
DRIFT_KINDS = ("model", "fingerprint")


def _number(kind: type, low: float, high: float = float("inf"), *, above_low: bool = False) -> Callable[[str], Any]:
    """A parser of finite ``kind`` values within ``[low, high]`` (``(low, high]`` with ``above_low``).

    ``inf`` and ``nan`` are refused: no timeout, price, budget or tolerance is infinite, and a
    NaN compares false with everything, so it would turn a check off without saying so.
    """

    def parse(text: str) -> Any:
        value = kind(text)
        if not math.isfinite(value) or not low <= value <= high or (above_low and value == low):
            raise ValueError
        return value

    return parse


_positive_float = _number(float, 0, above_low=True)
_non_negative_float = _number(float, 0)
_positive_int = _number(int, 1)
_non_negative_int = _number(int, 0)
_fraction = _number(float, 0, 1)


_switch = generation.switch


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError
        return text

    return parse


def _kinds(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """A parser of a comma- or space-separated subset of ``choices`` (``none``: the empty one)."""

    def parse(text: str) -> tuple[str, ...]:
        given = set(text.replace(",", " ").split())
        if given == {"none"}:
            return ()
        if not given or not given <= set(choices):
            raise ValueError
        return tuple(sorted(given))

    return parse


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError
    return text.strip()


def _assignments(lines: list[str] | str) -> Iterator[tuple[str, list[str]]]:
    """``name = value ...`` lines (``;`` separates them on the command line), as name and values."""
    if isinstance(lines, str):
        lines = lines.replace(";", "\n").splitlines()
    for line in lines:
        if line.strip():
            name, sep, values = line.partition("=")
            if not sep or not name.strip():
                raise ValueError
            yield name.strip(), values.split()


def _prices(lines: list[str] | str) -> dict[str, tuple[float, float]]:
    """Parse ``model = input_usd output_usd`` lines (USD per million tokens)."""
    prices: dict[str, tuple[float, float]] = {}
    for model, numbers in _assignments(lines):
        if len(numbers) != 2:
            raise ValueError
        prices[model] = (_non_negative_float(numbers[0]), _non_negative_float(numbers[1]))
    return prices


def _patterns(lines: list[str] | str) -> tuple[str, ...]:
    """Regular expressions, one a line, each checked to compile."""
    import re

    if isinstance(lines, str):
        lines = lines.splitlines()
    patterns = tuple(line.strip() for line in lines if line.strip())
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error:
            raise ValueError(pattern) from None
    return patterns


def _variants(lines: list[str] | str) -> tuple[Variant, ...]:
    from pytest_llmops._variants import entries_of, parse_variants

    return parse_variants(entries_of(lines))


def _endpoints(lines: list[str] | str) -> dict[str, NamedEndpoint]:
    from pytest_llmops._models.named_endpoints import parse_endpoints

    return parse_endpoints(lines)


def _names(lines: list[str] | str) -> tuple[str, ...]:
    """Names separated by commas, spaces or lines."""
    text = lines if isinstance(lines, str) else "\n".join(lines)
    names = tuple(dict.fromkeys(text.replace(",", " ").split()))
    if not names:
        raise ValueError
    return names


def _drops(lines: list[str] | str) -> dict[str, float]:
    """Parse ``metric = drop`` lines."""
    drops: dict[str, float] = {}
    for metric, numbers in _assignments(lines):
        if len(numbers) != 1:
            raise ValueError
        drops[metric] = _non_negative_float(numbers[0])
    return drops


@dataclass(frozen=True)
class Option:
    """One setting: its ini key, help, default, parser and what its values may be."""

    name: str
    help: str
    parse: Callable[[Any], Any] = _text
    accepted: str = "a non-empty string"
    #: A variable other tools already read for this setting, consulted after the plugin's own.
    also_env: str | None = None
    ini_type: Literal["string", "linelist"] = "string"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def field(self) -> str:
        return self.name.removeprefix("llm_")

    @property
    def env(self) -> str:
        """The plugin's environment variable: ``llm_record_mode`` -> ``PYTEST_LLMOPS_RECORD_MODE``."""
        return ENV_PREFIX + self.field.upper()

    @property
    def env_names(self) -> tuple[str, ...]:
        return (self.env, self.also_env) if self.also_env else (self.env,)


def _generation_option(name: str, setting: str, help: str) -> Option:
    """An option holding generation setting ``setting``: read and checked by the one table."""
    return Option(name, help, functools.partial(generation.from_text, setting), generation.RULES[setting].accepted)


ENV_PREFIX = "PYTEST_LLMOPS_"

OPTIONS: tuple[Option, ...] = (
    Option(
        "llm_model",
        "Model spec for the `llm` fixture: local, echo, openai:<model>, azure:<deployment>, "
        "anthropic:<model>, hf:<path>; `openai@<endpoint>:<model>` calls a named endpoint (llm_endpoints).",
    ),
    Option("llm_judge_model", "Model spec of the judge (default: the tested model)."),
    Option(
        "llm_judge_votes",
        "Judge votes per verdict (several are sampled with different seeds).",
        _positive_int,
        "an integer >= 1",
    ),
    Option(
        "llm_judge_aggregate",
        "How judge votes are combined: mean, median or majority.",
        _choice(JUDGE_AGGREGATES),
        "one of " + ", ".join(JUDGE_AGGREGATES),
    ),
    _generation_option(
        "llm_judge_temperature", "temperature", "Judge sampling temperature (default: 0 for one vote, 0.7 for several)."
    ),
    Option(
        "llm_judge_retries",
        "Times an unreadable judge answer is asked again before ERROR.",
        _non_negative_int,
        "an integer >= 0",
    ),
    Option(
        "llm_judge_min_agreement",
        "Least agreement with human labels a judge needs in calibration.",
        _fraction,
        "a number from 0 to 1",
    ),
    Option(
        "llm_openai_base_url", "Base URL of an OpenAI-compatible server.", also_env="OPENAI_BASE_URL", accepted="a URL"
    ),
    Option(
        "llm_endpoints",
        "Named servers, one `name = URL [key_env=VARIABLE] [api_version=VERSION]` line each (`;` "
        "between them on the command line); a model spec picks one with `openai@name:<model>` (also "
        "azure@, anthropic@). The key is read from the variable key_env names; recordings keep the name only.",
        _endpoints,
        "lines of `name = URL [key_env=VARIABLE] [api_version=VERSION]`",
        ini_type="linelist",
    ),
    Option(
        "llm_azure_endpoint",
        "Azure OpenAI resource URL of azure:<deployment> specs (`https://<resource>.openai.azure.com`).",
        also_env="AZURE_OPENAI_ENDPOINT",
        accepted="a URL",
    ),
    Option(
        "llm_azure_api_version",
        "Azure OpenAI API version of azure:<deployment> specs (e.g. 2024-10-21).",
        also_env="OPENAI_API_VERSION",
    ),
    Option(
        "llm_anthropic_base_url",
        "Base URL of the Anthropic Messages API for anthropic:<model> specs.",
        also_env="ANTHROPIC_BASE_URL",
        accepted="a URL",
    ),
    Option(
        "llm_timeout", "Seconds before one model request times out.", _positive_float, "a finite number of seconds > 0"
    ),
    Option(
        "llm_max_retries",
        "Retries of a failed request (429, 5xx, timeouts) before ERROR.",
        _non_negative_int,
        "an integer >= 0",
    ),
    Option("llm_concurrency", "Most model calls in flight at once.", _positive_int, "an integer >= 1"),
    Option(
        "llm_adaptive_concurrency",
        "Per endpoint (a named endpoint, or a server base URL), under llm_concurrency: back "
        "off on 429 and rate-limit headers, grow back on success (on, the default); off: a fixed bound.",
        _switch,
        "on or off",
    ),
    _generation_option("llm_temperature", "temperature", "Default sampling temperature (0 is greedy)."),
    _generation_option("llm_max_tokens", "max_tokens", "Default most tokens a completion may have."),
    _generation_option("llm_seed", "seed", "Default sampling seed."),
    _generation_option(
        "llm_stream",
        "stream",
        "Stream every call of the tested models (on or off, the default), measuring time to first token and tokens per second.",
    ),
    Option("llm_device", "Device of in-process models.", _choice(DEVICES), "one of " + ", ".join(DEVICES)),
    Option(
        "llm_prices",
        "Price overrides, one `model = input output` line each, USD per million tokens.",
        _prices,
        "lines of `model = <input USD/Mtok> <output USD/Mtok>` (finite numbers >= 0)",
        ini_type="linelist",
    ),
    Option(
        "llm_record_mode",
        "Record/replay of model calls: replay (CI: a missing recording is an "
        "ERROR), new (replay, record what is missing; the default), all (re-record) or off.",
        _choice(RECORD_MODES),
        "one of " + ", ".join(RECORD_MODES),
    ),
    Option(
        "llm_scrub",
        "Text your tests send or get that no recording, snapshot, report or "
        "message may keep (customer data): one regular expression a line, each match replaced "
        "by <scrubbed>.",
        _patterns,
        "lines of valid regular expressions",
        ini_type="linelist",
    ),
    Option("llm_prompts_dir", "Folder of prompt templates, relative to the rootdir."),
    Option("llm_recordings_dir", "Folder of recorded model calls, relative to the rootdir."),
    Option("llm_report_json", "Write the run report as JSON to this path.", accepted="a file path"),
    Option("llm_report_html", "Write a self-contained HTML report to this path.", accepted="a file path"),
    Option("llm_report_md", "Write a Markdown summary to this path.", accepted="a file path"),
    Option(
        "llm_history",
        "Append each run to a history database: a file path (SQLite) or a "
        "postgresql:// URL; `python -m pytest_llmops history` shows its trends.",
        accepted="a file path or a postgresql:// URL",
    ),
    Option(
        "llm_fail_on_drift",
        "What change of the served model fails the run: model (the server "
        "names another model for a spec than the last run of the history, or the baseline, saw), "
        "fingerprint (its system_fingerprint changed), both (`model,fingerprint`) or none (the "
        "default: only reported).",
        _kinds(DRIFT_KINDS),
        "model, fingerprint, `model,fingerprint` or none",
    ),
    Option(
        "llm_max_error_rate",
        "Fail the run when more than this share of a model spec's live "
        "attempts failed (a 429, a 5xx, a timeout; retried or not), e.g. 0.05.",
        _fraction,
        "a number from 0 to 1",
    ),
    Option(
        "llm_max_ttft_p95_s",
        "Fail the run when a tested model spec's p95 time to first token of streamed calls is above this many seconds.",
        _positive_float,
        "a finite number of seconds > 0",
    ),
    Option(
        "llm_min_tokens_per_s_p50",
        "Fail the run when a tested model spec's median tokens per second of streamed calls is below this.",
        _positive_float,
        "a finite number > 0",
    ),
    Option(
        "llm_flaky_runs",
        "Flaky tests: how many of the history's last runs a test must have "
        "both passed and failed in (with the same prompt versions and models) to be labelled flaky.",
        _positive_int,
        "an integer >= 1",
    ),
    Option(
        "llm_baseline", "A JSON report (e.g. from the main branch) to compare this run with.", accepted="a file path"
    ),
    Option(
        "llm_budget_usd",
        "Refuse live model calls once they have cost this many USD.",
        _positive_float,
        "a finite number of USD > 0",
    ),
    Option(
        "llm_max_score_drop",
        "Baseline gate: largest allowed drop of a test's mean score per metric (beyond its samples' standard error).",
        _non_negative_float,
        "a finite number >= 0",
    ),
    Option(
        "llm_max_score_drop_by_metric",
        "Baseline gate: the largest allowed drop for some "
        "metrics, one `metric = drop` line each (e.g. `chrf = 2` on its 0-100 scale); a metric "
        "key with its label (`rougeL[summary]`) comes before the metric's name.",
        _drops,
        "lines of `metric = <finite number >= 0>`",
        ini_type="linelist",
    ),
    Option(
        "llm_max_cost_increase",
        "Baseline gate: largest allowed relative rise of the cost of the calls (0.2 = +20%).",
        _non_negative_float,
        "a finite number >= 0",
    ),
    Option(
        "llm_max_latency_increase",
        "Baseline gate: largest allowed relative rise of the p95 call latency (0.5 = +50%).",
        _non_negative_float,
        "a finite number >= 0",
    ),
    Option(
        "llm_fail_on_missing",
        "Baseline gate: what the baseline had and this run lacks that fails "
        "the gate: metrics (a metric key a test no longer scores), tests (a test no longer collected, "
        "or skipped now after passing), both (`metrics,tests`) or none (the default: only reported). "
        "Deselected tests and tests outside the paths given never count.",
        _kinds(MISSING_KINDS),
        "metrics, tests, `metrics,tests` or none",
    ),
    Option(
        "llm_variants",
        "A/B: run each model-calling test once per variant, the first the control "
        "(its tests keep their ids): `[label =] part [+ part]`, a part a model spec or `@version` "
        "of the prompt templates (`summarize@v2`); one a line, or comma-separated.",
        _variants,
        "variants like `base =, v2 = @v2, mini = openai:gpt-4.1-mini`",
        ini_type="linelist",
    ),
    Option(
        "llm_ab_gate",
        "A/B gate: the metric keys (and `passed`, the pass rate) on which a "
        "variant significantly worse than the control fails the run.",
        _names,
        "metric keys separated by commas or spaces",
    ),
    Option(
        "llm_ab_max_drop",
        "A/B gate: how much worse than the control a variant may be on a gated "
        "metric (its mean paired difference, on the metric's scale) before it fails.",
        _non_negative_float,
        "a finite number >= 0",
    ),
    Option(
        "llm_ab_confidence",
        "A/B: the confidence of the paired intervals and tests (0.95).",
        _number(float, 0.5, 0.999),
        "a number from 0.5 to 0.999",
    ),
    Option(
        "llm_ab_seed",
        "A/B: the seed of the bootstrap resampling (the same figures on a rerun).",
        _non_negative_int,
        "an integer >= 0",
    ),
    Option(
        "llm_shard",
        "Run shard i of N (`2/4`): the tests whose id hashes to it; deselect the "
        "rest. Merge the shards' JSON reports with `python -m pytest_llmops merge`.",
        Shard.parse,
        "`i/N` with 1 <= i <= N",
    ),
)

# Command-line switches (actions of one run, no ini key): (flag, help).
SWITCHES: tuple[tuple[str, str], ...] = (
    ("--llm-recordings-prune", "Delete recordings no test of this (complete, green) run used."),
    (
        "--llm-snapshot-update",
        "Rewrite the prompt versions (and staged reference outputs) in __llm_snapshots__ files to what this run used.",
    ),
    ("--llm-snapshot-prune", "Remove snapshot entries no test of this run used (reported either way)."),
    (
        "--llm-changed-prompts",
        "Run only the tests whose snapshot names a prompt template that changed since; deselect the rest.",
    ),
    (
        "--llm-estimate",
        "Make no model call: replay what is recorded, skip each test that would "
        "call a model live, and print those calls and the most they could cost.",
    ),
)


# Command-line flags of one run that take a value (no ini key: no file applies them every run).
VALUE_FLAGS: tuple[tuple[str, str, str], ...] = (
    (
        "--llm-apply-review",
        "REVIEW.json",
        "Apply a review file exported by the HTML report's review mode: "
        "accepted outputs become references (snapshot files, dataset rows) and good/bad labels go to "
        "the judges' calibration files, for each reviewed test whose output is still the one reviewed.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run."""

    model: str = "local"
    judge_model: str | None = None
    judge_votes: int = 1
    judge_aggregate: str = "mean"
    judge_temperature: float | None = None
    judge_retries: int = 2
    judge_min_agreement: float = 0.8
    openai_base_url: str | None = None
    endpoints: dict[str, NamedEndpoint] = field(default_factory=dict)
    azure_endpoint: str | None = None
    azure_api_version: str | None = None
    anthropic_base_url: str | None = None
    timeout: float = 60.0
    max_retries: int = 2
    concurrency: int = 16
    adaptive_concurrency: bool = True
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = None
    stream: bool = False
    device: str = "auto"
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    record_mode: str = "new"
    scrub: tuple[str, ...] = ()
    prompts_dir: str = "prompts"
    recordings_dir: str = "llm_recordings"
    report_json: str | None = None
    report_html: str | None = None
    report_md: str | None = None
    history: str | None = None
    fail_on_drift: tuple[str, ...] = ()
    max_error_rate: float | None = None
    max_ttft_p95_s: float | None = None
    min_tokens_per_s_p50: float | None = None
    flaky_runs: int = 10
    baseline: str | None = None
    budget_usd: float | None = None
    max_score_drop: float = 0.05
    max_score_drop_by_metric: dict[str, float] = field(default_factory=dict)
    #: Not an option but a fact of this process: a pytest-xdist worker (in-process models then
    #: use one CPU thread each).
    worker: bool = False
    max_cost_increase: float | None = None
    max_latency_increase: float | None = None
    fail_on_missing: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    ab_gate: tuple[str, ...] = ()
    ab_max_drop: float = 0.0
    ab_confidence: float = 0.95
    ab_seed: int = 0
    shard: Shard | None = None

    def reported(self) -> dict[str, Any]:
        """The settings that shape a run's results and its gate, as the JSON report keeps them
        (``run.settings``): shards of one run must agree on every one of them."""
        values = {name: getattr(self, name) for name in REPORTED}
        values["prices"] = {model: list(price) for model, price in sorted(self.prices.items())}
        values["max_score_drop_by_metric"] = dict(sorted(self.max_score_drop_by_metric.items()))
        values["fail_on_missing"] = list(self.fail_on_missing)
        values["variants"] = [{"label": v.label, "model": v.model, "prompts": v.prompts} for v in self.variants]
        values["ab_gate"] = list(self.ab_gate)
        values["fail_on_drift"] = list(self.fail_on_drift)
        return values


#: The fields of :meth:`Settings.reported`: what the model is asked and how the gate judges it.
REPORTED = (
    "model",
    "judge_model",
    "judge_votes",
    "judge_aggregate",
    "judge_temperature",
    "judge_retries",
    "judge_min_agreement",
    "temperature",
    "max_tokens",
    "seed",
    "stream",
    "prices",
    "record_mode",
    "budget_usd",
    "max_score_drop",
    "max_score_drop_by_metric",
    "max_cost_increase",
    "max_latency_increase",
    "max_ttft_p95_s",
    "min_tokens_per_s_p50",
    "fail_on_missing",
    "variants",
    "ab_gate",
    "ab_max_drop",
    "ab_confidence",
    "ab_seed",
    "max_error_rate",
    "fail_on_drift",
)


def add_options(parser: pytest.Parser) -> None:
    """Declare every flag and ini key in one option group."""
    group = parser.getgroup("llmops", "LLM regression testing (pytest-llmops)")
    for option in OPTIONS:
        env = " or ".join(option.env_names)
        # argparse %-formats help strings: a literal "%" (as in "+20%") must be doubled.
        group.addoption(
            option.flag,
            dest=option.name,
            default=None,
            help=f"{option.help} Env: {env}. Ini: {option.name}.".replace("%", "%%"),
        )
        parser.addini(option.name, option.help, type=option.ini_type, default=None)
    for flag, help in SWITCHES:
        group.addoption(flag, action="store_true", default=False, help=help)
    for flag, metavar, help in VALUE_FLAGS:
        group.addoption(flag, metavar=metavar, default=None, help=help)


def resolve(config: pytest.Config, *, worker: bool = False) -> Settings:
    """Resolve CLI, then environment, then ini, into :class:`Settings`."""
    values: dict[str, Any] = {"worker": worker}
    for option in OPTIONS:
        raw, where = _raw_value(config, option)
        if raw is None:
            continue
        try:
            values[option.field] = option.parse(raw)
        except (ValueError, TypeError) as error:
            why = f" ({error})" if isinstance(error, BadValue) else ""
            raise ConfigError(f"invalid value {raw!r} for {where}: expected {option.accepted}{why}.") from None
    return Settings(**values)


def source_of(config: pytest.Config, name: str) -> str:
    """Where option ``name`` got its value: its flag, its environment variable or its ini key."""
    option = next(option for option in OPTIONS if option.name == name)
    return _raw_value(config, option)[1] or f"{name} (its default)"


def _raw_value(config: pytest.Config, option: Option) -> tuple[Any, str]:
    cli = config.getoption(option.name, None)
    if cli is not None:
        return cli, option.flag
    for name in option.env_names:
        if os.environ.get(name):
            return os.environ[name], f"environment variable {name}"
    ini = config.getini(option.name)
    if ini not in (None, "", []):
        source = config.inipath.name if config.inipath else "ini"
        return ini, f"{option.name} in {source}"
    return None, ""
