"""Grounded dataset suites end to end: `context` and `relevant` columns scored by the retrieval
metrics through the golden fixture, recorded and reported like every score."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

ROWS = [
    {
        "id": "refund",
        "input": "How do I get a refund?",
        "relevant": ["kb-2"],
        "context": [{"id": "kb-2", "text": "Refunds take 5 days."}, {"id": "kb-7", "text": "Shipping is free."}],
    },
    {
        "id": "login",
        "input": "I cannot log in",
        "relevant": {"kb-1": 2, "kb-4": 1},
        "context": [{"id": "kb-9", "text": "Our offices."}, {"id": "kb-4", "text": "Reset your password."}],
    },
]


def test_retrieval_metrics_score_dataset_columns(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", **{"cases/rag": "\n".join(json.dumps(r) for r in ROWS)})
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/rag.jsonl")
        @pytest.mark.golden(metrics={"recall_at_k": {"threshold": 1, "k": 2}, "mrr": 0.5})
        def test_retrieval(case, golden):
            assert [chunk.id for chunk in case.context] == [c["id"] for c in case.inputs["context"]]
            assert "relevant" not in case.inputs
            golden.check(case.output, context=case.context, relevant=case.relevant)
        """
    )
    report = pytester.path / "report.json"
    result = pytester.runpytest("--llm-model", "echo", f"--llm-report-json={report}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*golden check 'output' failed: recall_at_k 0.5 (needs >= 1)",
            "*recall_at_k*0.5*FAIL",
            "*k: 2, retrieved: ?'kb-9', 'kb-4'?, hits: ?'kb-4'?, missed: ?'kb-1'?",
        ]
    )
    data = json.loads(report.read_text())
    scores = {(t["extra"]["case"]["id"], s["metric"]): s for t in data["tests"] for s in t.get("scores", [])}
    assert scores[("refund", "mrr")]["value"] == 1.0
    assert scores[("login", "mrr")]["value"] == 0.5
    assert scores[("login", "recall_at_k")]["details"]["missed"] == ["kb-1"]
    login = next(t for t in data["tests"] if t["extra"]["case"]["id"] == "login")
    assert login["extra"]["case"]["context"] == ROWS[1]["context"]  # shown beside the answer in the HTML report
    assert login["extra"]["case"]["relevant"] == {"kb-1": 2.0, "kb-4": 1.0}


def test_bad_columns_error_their_own_row(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".csv",
        **{
            "cases/rag": "\n".join(
                [
                    "id,input,context,relevant",
                    'ok,hello,"[""kb-1"", ""kb-2""]","[""kb-2""]"',
                    "bad,hello,kb-1,[]",
                    'twice,hello,"[""kb-1"", ""kb-1""]","[""kb-1""]"',
                ]
            )
        },
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/rag.csv")
        @pytest.mark.golden(metric="precision_at_k", threshold=0.5)
        def test_retrieval(case, golden):
            golden.check(case.output, context=case.context, relevant=case.relevant)

        @pytest.mark.llm_dataset("cases/rag.csv")
        def test_context_is_an_input(case):
            assert case.inputs["context"] == ["kb-1", "kb-2"]

        @pytest.mark.golden(metric="ndcg")
        def test_without_inputs(golden):
            golden.check("an answer")
        """
    )
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(passed=2, errors=5)
    result.stdout.fnmatch_lines_random(
        [
            "*cases/rag.csv:3: column 'context' must hold a JSON list*not 'kb-1'*",
            "*cases/rag.csv:4: context lists chunk 'kb-1' twice*",
            "*metric 'ndcg' needs context= (the retrieved chunks) and relevant= (the labelled relevant ids)*",
        ]
    )


def test_no_pii_fails_naming_each_finding_masked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.golden(metric="no_pii")
        def test_leak(golden):
            golden.check("Mail jo@example.com or card 4111 1111 1111 1111; order ORD-2024-118733.")

        @pytest.mark.golden(metric="no_pii", options={"kinds": ["card", "iban"]})
        def test_kinds(golden):
            golden.check("Mail jo@example.com about order ORD-2024-118733 on 2024-03-15.")

        @pytest.mark.golden(metric="no_pii", options={"kinds": ["passport"]})
        def test_bad_kind(golden):
            golden.check("text")
        """
    )
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*golden check 'output' failed: no_pii 0 (needs >= 1)",
            "*found: 2, kinds: ?'email', 'phone', 'card', 'iban', 'ip', 'credential'?",
            "*findings: kind: email, start: 5, end: 19, value: **@*******.***",
            "*findings: kind: card, start: 28, end: 47, value: **** **** **** 1111",
        ]
    )
    result.stdout.fnmatch_lines(["*unknown PII kind 'passport'*"])


def test_citations_against_the_case_context(pytester: pytest.Pytester) -> None:
    # The echo model answers with its prompt: each row's input is the answer under test.
    rows = [
        {"id": "cited", "input": "Refunds take five working days [kb-2].", "context": ROWS[0]["context"]},
        {
            "id": "invented",
            "input": "Refunds take five working days [kb-5]. Shipping is always free for you.",
            "context": ROWS[0]["context"],
        },
    ]
    pytester.makefile(".jsonl", **{"cases/rag": "\n".join(json.dumps(r) for r in rows)})
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/rag.jsonl")
        @pytest.mark.golden(metric="citations")
        def test_cites(case, golden):
            golden.check(case.output, context=case.context)
        """
    )
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*golden check 'output' failed: citations 0 (needs >= 1)",
            "*claims: 2, supported: 0, cited: ??",
            "*unknown: citation: ?kb-5?, id: kb-5, start: 31",
            "*uncited: claim: Shipping is always free for you., start: 39",
        ]
    )
