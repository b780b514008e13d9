"""Human review: a reviewer marks outputs in the HTML report (headless Chromium, driven by
Playwright), exports the review file, and a pytest run applies it: accepted outputs become
references in the snapshot file and in the dataset row, labels go to the judge's labels file,
and what no longer matches this checkout is refused with its reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from servers import ScriptedServer

from pytest_llmops._report.json_report import validate

pytest_plugins = ["pytester"]

CASES = """\
# support questions, with the references people wrote
- id: refund
  question: How do I get a refund?
  expected: Old reference for the refund question.   # written before the new prompt
- id: parcel
  question: Where is my parcel?
  expected: |
    Reply to: Where is my parcel?
"""

SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.yaml", prompt="reply")
def test_case(case, golden):
    golden.check(case.output, reference=case.expected, metric="rougeL", threshold=0.9)

def test_greeting(llm, prompt, golden):
    golden.check(llm.complete(prompt("reply", question="hello")))

def test_farewell(llm, prompt, golden):
    golden.check(llm.complete(prompt("farewell")))

@pytest.mark.llm_judge(rubric="Answers the question", threshold=0.5)
def test_judged(llm, judge):
    judge.check(llm.complete("Your parcel arrives on Monday."), question="Where is my parcel?")
"""


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def suite(pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]) -> pytest.Pytester:
    server = scripted_server(lambda body: '{"reasoning": "It says when.", "score": 5}')
    pytester.makefile(".jinja", **{"prompts/reply": "Reply to: {{ question }}", "prompts/farewell": "Goodbye!"})
    pytester.makefile(".yaml", cases=CASES)
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini(
        f"[pytest]\nllm_model = echo\nllm_record_mode = off\nllm_judge_model = openai:judge\n"
        f"llm_openai_base_url = {server.url}\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def row(page: Any, nodeid: str) -> Any:
    return page.locator("#tests > tbody", has=page.locator("td", has_text=nodeid)).first


def test_a_review_made_in_the_page_is_applied_where_the_outputs_still_match(
    suite: pytest.Pytester, browser: Any
) -> None:
    run(suite, "--llm-snapshot-update").assert_outcomes(passed=4, failed=1)  # test_case[refund] misses
    (suite.path / "prompts" / "reply.jinja").write_text("Reply kindly to: {{ question }}")
    reported = run(suite, "--llm-report-html", "report.html")
    reported.assert_outcomes(passed=3, failed=2)  # refund and greeting miss their references

    page = browser.new_page(accept_downloads=True)
    page.goto((suite.path / "report.html").as_uri())
    page.wait_for_selector("body[data-ready=true]")
    assert not page.is_visible("#review-bar") and not page.is_visible(".review button")
    page.click("#review-toggle")
    page.fill("#reviewer", "Ana")
    row(page, "test_case[refund]").locator("button.accept").click()
    row(page, "test_case[refund]").locator("button.good").click()
    row(page, "test_greeting").locator("button.accept").click()
    row(page, "test_farewell").locator("button.accept").click()
    judged = row(page, "test_judged")
    judged.locator("button.bad").click()
    judged.locator("input").fill("It invents the day.")
    judged.locator("input").press("Tab")
    assert judged.locator("button.accept").is_disabled()  # no golden check: nothing to accept
    # The keyboard: j to the first test shown (the failures come first), b marks it bad, then undone by g.
    page.keyboard.press("j")
    first = page.locator("#tests > tbody.cursor td").first.inner_text()
    page.keyboard.press("b")
    assert page.locator("#tests > tbody.cursor button.bad").get_attribute("aria-pressed") == "true"
    page.keyboard.press("g")
    assert page.locator("#tests > tbody.cursor button.good").get_attribute("aria-pressed") == "true"
    assert "test_case" in first or "test_greeting" in first
    agreement = page.inner_text("#review-agreement")
    assert agreement.startswith("Judge vs you: 0% agreement over 1 verdicts")
    assert "you disagree on test_suite.py::test_judged (judge:Answers the question: judge pass, you bad)" in agreement

    page.reload()  # the decisions stay in this browser
    page.wait_for_selector("body[data-ready=true]")
    page.click("#review-toggle")
    assert row(page, "test_greeting").locator("button.accept").get_attribute("aria-pressed") == "true"
    assert page.input_value("#reviewer") == "Ana"
    assert "4 of 5 tests reviewed" in page.inner_text("#review-count")
    with page.expect_download() as download:
        page.click("#review-export")
    download.value.save_as(suite.path / "review.json")
    review = json.loads((suite.path / "review.json").read_text())
    assert validate(review, "review") is None
    assert review["reviewer"] == "Ana" and len(review["cases"]) == 4

    # Since the review, the farewell prompt changed: its output is not the one reviewed.
    (suite.path / "prompts" / "farewell.jinja").write_text("Goodbye, and thanks!")
    applied = run(suite, "--llm-apply-review", "review.json")
    applied.assert_outcomes(passed=4, failed=1)
    applied.stdout.fnmatch_lines(
        [
            "*llmops review*",
            "review.json (reviewer Ana): 2 references accepted, 1 labels added "
            "(__llm_snapshots__/test_suite.yaml, cases.yaml, test_suite.judge-labels.jsonl)",
            "refused:",
            "  test_suite.py::test_farewell: reference 'output': its output is not the one reviewed*",
            "new label files (point the judge's calibration= at them): test_suite.judge-labels.jsonl",
        ]
    )
    rows = yaml.safe_load((suite.path / "cases.yaml").read_text())
    assert rows[0]["expected"] == "Reply kindly to: How do I get a refund?"
    assert rows[1]["expected"].strip() == "Reply to: Where is my parcel?"  # not reviewed: as it was
    assert (suite.path / "cases.yaml").read_text().startswith("# support questions")  # the rest as it was
    assert "Reply kindly to: hello" in (suite.path / "__llm_snapshots__" / "test_suite.yaml").read_text()
    labels = [json.loads(line) for line in (suite.path / "test_suite.judge-labels.jsonl").read_text().splitlines()]
    assert labels == [
        {
            "output": "Your parcel arrives on Monday.",
            "question": "Where is my parcel?",
            "reference": None,
            "label": "bad",
            "comment": "It invents the day.",
            "reviewer": "Ana",
            "test": "test_suite.py::test_judged",
        }
    ]
    run(suite).assert_outcomes(passed=4, failed=1)  # the accepted references hold; farewell still differs
    # The judge calibrated on the new labels: it passed what the reviewer called bad.
    (suite.path / "test_suite.py").write_text(
        SUITE.replace(
            '@pytest.mark.llm_judge(rubric="Answers the question", threshold=0.5)',
            '@pytest.mark.llm_judge(rubric="Answers the question", threshold=0.5, calibration="test_suite.judge-labels.jsonl")',
        )
    )
    calibrated = run(suite, "-k", "judged")
    calibrated.assert_outcomes(errors=1)
    calibrated.stdout.fnmatch_lines(["*judge openai:judge failed calibration, so it grades no tests*"])


def review_file(path: Path, *cases: dict[str, Any]) -> None:
    defaults = {"label": None, "comment": "", "accept": True, "outputs": [], "judged": []}
    path.write_text(
        json.dumps(
            {
                "schema": "pytest-llmops/review",
                "schema_version": 1,
                "reviewer": "Bo",
                "report": {},
                "cases": [{**defaults, **case} for case in cases],
            }
        )
    )


def test_what_cannot_be_applied_is_refused_with_its_reason(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_given="""
        def test_given(llm, golden):
            golden.check(llm.complete("hi"), reference="hello", metric="rougeL", threshold=0.1)
    """
    )
    review_file(
        suite.path / "review.json",
        {"nodeid": "test_given.py::test_given", "outputs": [{"name": "output", "output": "hi"}]},
        {"nodeid": "test_suite.py::test_greeting", "outputs": [{"name": "output", "output": "Reply to: hello"}]},
        {"nodeid": "test_suite.py::test_gone", "outputs": []},
    )
    result = run(suite, "--llm-apply-review", "review.json", "-k", "given or greeting")  # no snapshot yet
    result.stdout.fnmatch_lines(
        [
            "review.json (reviewer Bo): 0 references accepted, 0 labels added",
            "refused:",
            "  test_given.py::test_given: reference 'output' is given in the test's code, not read from a snapshot "
            "or a dataset row: change it there",
            "  test_suite.py::test_gone: not run by this run (deselected, not collected or not reached)",
            "  test_suite.py::test_greeting: accepted, but no golden check of it read a stored or dataset reference",
        ]
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "is not JSON"),
        (
            '{"schema": "pytest-llmops/review", "schema_version": 1, "reviewer": "x", "report": {}, "cases": [{"nodeid": ""}]}',
            "is not a pytest-llmops review file: at cases/0:",
        ),
    ],
)
def test_a_review_file_that_cannot_be_read_stops_the_run_naming_it(
    suite: pytest.Pytester, content: str, problem: str
) -> None:
    (suite.path / "review.json").write_text(content)
    result = run(suite, "--llm-apply-review", "review.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--llm-apply-review: *review.json {problem}*"])
