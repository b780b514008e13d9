"""``no_pii`` on a labelled corpus: every positive found with its kinds, every look-alike (order
numbers, dates, version strings) clean; options, masking and the one secret rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml
from scaling import LINEAR_AT_MOST, growth

from pytest_llmops.metrics import MetricError, MetricRegistry

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "pii.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return MetricRegistry.builtin()


def _findings(registry: MetricRegistry, text: str, **options: object) -> list[dict]:
    measured = registry.check("no_pii", options=options).measure(text, None)
    assert measured.value == (0.0 if measured.details["findings"] else 1.0)
    return measured.details["findings"]


@pytest.mark.parametrize("case", CORPUS["positives"], ids=lambda case: case["text"][:40])
def test_positives_are_found_by_kind(registry: MetricRegistry, case: dict) -> None:
    findings = _findings(registry, case["text"])
    assert [f["kind"] for f in findings] == case["kinds"]
    for finding in findings:
        raw = case["text"][finding["start"] : finding["end"]]
        assert len(finding["value"]) == len(raw) and finding["value"] != raw
        assert sum(c.isalnum() for c in finding["value"]) <= 4  # at most the last 4 digits shown


@pytest.mark.parametrize("text", CORPUS["lookalikes"], ids=lambda text: text[:40])
def test_lookalikes_are_clean(registry: MetricRegistry, text: str) -> None:
    assert _findings(registry, text) == []


def test_the_corpus_measures_precision_and_recall() -> None:
    assert len(CORPUS["positives"]) >= 30 and len(CORPUS["lookalikes"]) >= 30


def test_details_name_kind_position_and_masked_value(registry: MetricRegistry) -> None:
    text = "Card 4111 1111 1111 1111 or mail jo@example.com"
    assert _findings(registry, text) == [
        {"kind": "card", "start": 5, "end": 24, "value": "**** **** **** 1111"},
        {"kind": "email", "start": 33, "end": 47, "value": "**@*******.***"},
    ]


def test_kinds_choose_what_is_looked_for(registry: MetricRegistry) -> None:
    text = "jo@example.com from 192.0.2.1"
    assert [f["kind"] for f in _findings(registry, text, kinds=["ip"])] == ["ip"]
    measured = registry.check("no_pii", options={"kinds": ["card"]}).measure(text, None)
    assert measured.value == 1.0 and measured.details["kinds"] == ["card"]


def test_region_finds_national_numbers() -> None:
    registry = MetricRegistry.builtin()
    london = "call 020 7946 0958"
    assert _findings(registry, london) == []  # not a US number
    assert [f["kind"] for f in _findings(registry, london, region="GB")] == ["phone"]
    assert _findings(registry, "Ring +44 20 7946 0958", region=None)[0]["kind"] == "phone"
    assert _findings(registry, "Call (415) 555-0132", region=None) == []  # international numbers only


def test_credentials_are_the_redaction_rule() -> None:
    from pytest_llmops._redact import credential_spans, looks_like_credential

    text = "API_KEY=sk-9fA8b7C6d5E4f3G2h1 and STATS_KEY=duration"
    [(start, end)] = credential_spans(text)
    assert looks_like_credential(text[start:end]) and not looks_like_credential("duration")


def test_phonenumbers_is_imported_only_for_phones_and_named_when_missing() -> None:
    code = (
        "import sys\n"
        "from pytest_llmops.metrics import MetricRegistry, MetricError\n"
        "r = MetricRegistry.builtin()\n"
        "print(r.check('no_pii', options={'kinds': ['email', 'card']}).measure('a@b.org', None).value)\n"
        "print('phonenumbers' in sys.modules)\n"
        "sys.modules['phonenumbers'] = None\n"  # as if it were not installed
        "try:\n"
        "    r.check('no_pii')\n"
        "except MetricError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "0.0",
        "False",
        "'phonenumbers' is not installed: pip install 'pytest-llmops[pii]' (or leave 'phone' out of kinds=)",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kinds": ["email", "ssn"]}, "unknown PII kind 'ssn'"),
        ({"kinds": "email"}, "kinds must be a non-empty list"),
        ({"kinds": []}, "kinds must be a non-empty list"),
        ({"region": "United States"}, "region must be a two-letter country code"),
        ({"region": "QQ"}, "region 'QQ' is not a region phonenumbers knows"),
    ],
)
def test_bad_options_are_refused(registry: MetricRegistry, options: dict, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        registry.check("no_pii", options=options)


#: Texts of ``n`` repeats that took seconds to minutes with a quadratic pattern or overlap check.
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "email-dots": lambda n: "x@" + "a." * n + "1",
    "url-dots": lambda n: "http://" + "a." * n,
    "emails": lambda n: "ab@cd.ef " * n,
    "digits-dots": lambda n: "1." * n,
    "phone-prefixes": lambda n: "+1 " * n,
    "key": lambda n: "key=" + "A1" * n,
    "iban-prefixes": lambda n: "DE89 " * n,
    "colons": lambda n: ":" * n,
}


@pytest.mark.parametrize("build", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_long_adversarial_outputs_take_linear_time(registry: MetricRegistry, build: Callable[[int], str]) -> None:
    check = registry.check("no_pii")
    assert growth(lambda text: check.measure(text, None), build, 12_500) < LINEAR_AT_MOST
