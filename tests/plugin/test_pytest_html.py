"""pytest-html interop: with pytest-html active, its results table shows each test's scores and
cost, escaped; without it nothing of pytest-html's is touched."""

from __future__ import annotations

import html
import json
import re

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("pytest_html")


def test_pytest_htmls_table_gains_the_scores_and_cost_columns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_html="""
        import pytest
        from pytest_llmops import Score

        @pytest.mark.golden(metric="rougeL", threshold=0.5)
        def test_reply(llm, golden):
            golden.check(llm.complete("Open Orders and press Refund."), reference="Open Orders, then press Refund.")

        def test_scored(llm_record):
            llm_record.add_score(Score("<img src=x>", 0.2, 0.5, False))

        def test_plain():
            pass
    """
    )
    result = pytester.runpytest(
        "-p",
        "html",
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "echo",
        "--llm-record-mode",
        "off",
        "--llm-prices",
        "echo = 1000 2000",
        "--html",
        "report.html",
        "--self-contained-html",
    )
    result.assert_outcomes(passed=3)
    page = (pytester.path / "report.html").read_text()
    header = re.findall(r'<th class="sortable" data-column-type="(\w+)">([^<]+)</th>', page)
    assert header[2:4] == [("llmScores", "LLM scores"), ("llmCost", "LLM cost")]  # after result and test
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page)[1]))
    rows = {nodeid.split("::")[1]: entry[0]["resultsTableRow"][2:4] for nodeid, entry in blob["tests"].items()}
    assert rows["test_reply"][0] == '<td class="col-llmScores">rougeL[output] 0.8 &gt;= 0.5</td>'
    assert re.fullmatch(r'<td class="col-llmCost">\$0\.0\d+</td>', rows["test_reply"][1])
    assert rows["test_scored"][0] == '<td class="col-llmScores">&lt;img src=x&gt; 0.2 &lt; 0.5</td>'  # a name is text
    assert rows["test_plain"] == ['<td class="col-llmScores"></td>', '<td class="col-llmCost"></td>']


@pytest.mark.parametrize("html", [["-p", "no:html"], ["-p", "html"]], ids=["not loaded", "loaded, no --html"])
def test_without_a_pytest_html_report_nothing_is_registered(pytester: pytest.Pytester, html: list[str]) -> None:
    pytester.makeconftest("""
        def pytest_sessionfinish(session):
            assert session.config.pluginmanager.has_plugin("llmops-pytest-html") is False, "registered for no report"
    """)
    pytester.makepyfile(test_plain="def test_plain(llm):\n    llm.complete('hi')\n")
    result = pytester.runpytest(*html, "--llm-model", "echo", "--llm-record-mode", "off")
    result.assert_outcomes(passed=1)  # and no "unknown hook pytest_html_results_table_row"
