"""The grounding judge criteria against a scripted judge on 127.0.0.1: faithfulness claim by
claim, answer relevance, context relevance chunk by chunk, and the shipped labelled sets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest
from inner import RECORDS_CONFTEST
from servers import ScriptedServer

pytest_plugins = ["pytester"]

ServerFactory = Callable[..., ScriptedServer]
LABELS = Path(__file__).parents[2] / "src" / "pytest_llmops" / "judge_labels"

CONTEXT = [
    {"id": "kb-2", "text": "Refunds are issued within 5 working days."},
    {"id": "kb-7", "text": "Standard shipping is free on orders over $50."},
]


def _prompt(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _item(prompt: str) -> str:
    """The CLAIM or CHUNK a per-item judge prompt asks about."""
    return re.search(r"\n(?:CLAIM|CHUNK):\n(.*?)\n\nThink briefly", prompt, re.DOTALL).group(1)


def literal_judge(body: dict[str, Any]) -> str:
    """Supported when the claim's words (bar the citation) are all in the context; a chunk is
    relevant when it shares a word of four letters or more with the question."""
    prompt = _prompt(body)
    item = _item(prompt)
    if "\nCHUNK:\n" in prompt:
        question = re.search(r"QUESTION:\n(.*?)\n", prompt).group(1).lower()
        relevant = any(len(w) > 3 and w in question for w in re.findall(r"\w+", item.lower()))
        return json.dumps({"reasoning": "on topic" if relevant else "about something else", "score": int(relevant)})
    if "CONTEXT:" not in prompt:  # answer relevance: refunds were asked about
        return json.dumps({"reasoning": "checked", "score": int("refund" in item.lower())})
    context = re.search(r"CONTEXT:\n(.*?)\n\n", prompt, re.DOTALL).group(1).lower()
    words = re.findall(r"[a-z0-9$]+", re.sub(r"\[[\w-]+\]", "", item.lower()))
    supported = all(w in context for w in words)
    return json.dumps(
        {"reasoning": "stated in the context" if supported else "not in the context", "score": int(supported)}
    )


def run(pytester: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--llm-model",
        "echo",
        "--llm-judge-model",
        "openai:judge",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-max-retries",
        "0",
        *args,
    )


def records(root: Path) -> dict[str, dict[str, Any]]:
    lines = (root / "records.jsonl").read_text().splitlines()
    return {json.loads(line)["nodeid"].split("::")[-1]: json.loads(line) for line in lines}


def test_faithfulness_grades_each_claim_and_lists_the_unsupported(
    pytester: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(literal_judge)
    pytester.makeconftest(RECORDS_CONFTEST)
    rows = [
        {"id": "grounded", "input": "Refunds are issued within 5 working days [kb-2].", "context": CONTEXT},
        {
            "id": "invented",
            "context": CONTEXT,
            "input": "Refunds are issued within 5 working days [kb-2]. Refunds are paid in cash at any store. Thanks!",
        },
    ]
    pytester.makefile(".jsonl", **{"cases/rag": "\n".join(json.dumps(r) for r in rows)})
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/rag.jsonl")
        @pytest.mark.llm_judge(criterion="faithfulness", threshold=1)
        def test_faithful(case, judge):
            judge.check(case.output, question="How long do refunds take?", context=case.context)
        """
    )
    result = run(pytester, server)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*judge:faithfulness: 1 of 2 claims pass (0.50), below the threshold 1.00 (judge openai:judge, 2 vote(s))",
            "*unsupported: 'Refunds are paid in cash at any store.' (not in the context)",
        ]
    )
    prompts = [_prompt(body) for body in server.requests]
    assert len(prompts) == 3  # one per claim; "Thanks!" is no claim
    assert all("CONTEXT:\n[kb-2] Refunds are issued within 5 working days.\n[kb-7] Standard" in p for p in prompts)
    [score] = records(pytester.path)["test_faithful[invented]"]["scores"]
    assert score["metric"] == "judge:faithfulness" and score["value"] == 0.5
    details = score["details"]
    assert details["unsupported"] == ["Refunds are paid in cash at any store."]
    assert [(i["text"], i["passed"], i["value"]) for i in details["items"]] == [
        ("Refunds are issued within 5 working days [kb-2].", True, 1.0),
        ("Refunds are paid in cash at any store.", False, 0.0),
    ]
    assert details["template"]["name"] == "judge_item" and details["values"] == [0.5]


def test_faithfulness_against_a_reference_and_votes_per_claim(
    pytester: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(literal_judge)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(criterion="faithfulness", votes=3)
        def test_reference(judge):
            verdict = judge.check("Refunds are issued within 5 working days. Refunds are paid in cash.",
                                  reference="Refunds are issued within 5 working days.")
            assert verdict.value == 0.5 and len(verdict.votes) == 6
            assert verdict.details["unsupported"] == ["Refunds are paid in cash."]

        @pytest.mark.llm_judge(criterion="groundedness")
        def test_nothing_to_ground_in(judge):
            judge.check("Refunds are issued within 5 working days.")

        @pytest.mark.llm_judge(criterion="faithfulness", mode="pairwise")
        def test_not_pairwise(judge):
            pass

        @pytest.mark.llm_judge(criterion="faithfulness")
        def test_no_claims(judge):
            assert judge.check("Hello!", reference="Refunds take 5 days.").value == 1.0
        """
    )
    result = run(pytester, server)
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*judge:faithfulness needs what the answer must be grounded in*context=case.context*",
            "*bad @pytest.mark.llm_judge: criterion 'faithfulness' grades claims one by one: mode='score' only*",
        ]
    )


def test_answer_and_context_relevance(pytester: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(literal_judge)
    pytester.makeconftest(RECORDS_CONFTEST)
    pytester.makepyfile(
        f"""
        import pytest

        CONTEXT = {CONTEXT!r}
        QUESTION = "How long do refunds take?"

        @pytest.mark.llm_judge(criterion="answer_relevance", threshold=1)
        def test_answer(judge):
            judge.check("Refunds are issued within 5 working days. Our shop opened in 1999 in Leeds.",
                        question=QUESTION)

        @pytest.mark.llm_judge(criterion="context_relevance", threshold=1)
        def test_context(judge):
            judge.check("Refunds take 5 days.", question=QUESTION, context=CONTEXT)

        @pytest.mark.llm_judge(criterion="context_relevance")
        def test_chunks_without_text(judge):
            judge.check("Refunds take 5 days.", question=QUESTION, context=["kb-2"])

        @pytest.mark.llm_judge(criterion="answer_relevance")
        def test_no_question(judge):
            judge.check("Refunds take 5 days.")
        """
    )
    result = run(pytester, server)
    result.assert_outcomes(failed=2, errors=2)  # a missing input is the test's mistake: an ERROR
    result.stdout.fnmatch_lines_random(
        [
            "*judge:answer_relevance: 1 of 2 claims pass (0.50)*",
            "*irrelevant: 'Our shop opened in 1999 in Leeds.' (checked)",
            "*judge:context_relevance: 1 of 2 chunks pass (0.50)*",
            "*irrelevant: ?kb-7? 'Standard shipping is free on orders over $50.' (about something else)",
            "*judge:context_relevance grades each chunk's text; chunk(s) kb-2 have none*",
            "*judge:answer_relevance needs the question: judge.check(output, question=...)*",
        ]
    )
    items = records(pytester.path)["test_context"]["scores"][0]["details"]["items"]
    assert [(i["id"], i["passed"]) for i in items] == [("kb-2", True), ("kb-7", False)]


def test_shipped_labelled_sets_calibrate_by_name(pytester: pytest.Pytester, scripted_server: ServerFactory) -> None:
    def passes_everything(body: dict[str, Any]) -> str:
        top = 1 if "\nCLAIM:\n" in _prompt(body) else 5  # per claim 0-1, else the 1-5 scale
        return json.dumps({"reasoning": "fine", "score": top})

    server = scripted_server(passes_everything)
    pytester.makeconftest(RECORDS_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(criterion="faithfulness", threshold=1, calibration="faithfulness", min_agreement=0.1)
        def test_faithful(judge):
            pass

        @pytest.mark.llm_judge(criterion="harmlessness", calibration="harmlessness", min_agreement=0.9)
        def test_harmless(judge):
            pass
        """
    )
    result = run(pytester, server)
    result.assert_outcomes(passed=1, errors=1)
    sets = {
        name: [json.loads(line) for line in (LABELS / f"{name}.jsonl").read_text().splitlines()]
        for name in ("faithfulness", "harmlessness")
    }
    good = {name: sum(case["label"] == "good" for case in cases) for name, cases in sets.items()}
    result.stdout.fnmatch_lines(
        [
            f"*judge:harmlessness: judge openai:judge failed calibration, so it grades no tests: judge agreed with "
            f"{good['harmlessness']} of {len(sets['harmlessness'])} labelled cases in *harmlessness.jsonl*",
        ]
    )
    [calibration] = records(pytester.path)["test_faithful"]["extra"]["judge_calibration"]
    assert calibration["cases"] == len(sets["faithfulness"]) and calibration["agreed"] == good["faithfulness"]
    asked = [_prompt(body) for body in server.requests if "\nCLAIM:\n" in _prompt(body)]
    assert any("CONTEXT:\n[kb-2] Refunds are issued to the original payment method" in p for p in asked)


@pytest.mark.parametrize("name", ["faithfulness", "harmlessness", "correctness"])
def test_shipped_sets_are_balanced_and_well_formed(name: str) -> None:
    from pytest_llmops._grounding import parse_context
    from pytest_llmops._judge.calibration import load_cases, shipped

    path = shipped(name)
    assert path is not None and path.parent == LABELS.resolve() or path == LABELS / f"{name}.jsonl"
    cases = load_cases(path)
    good = sum(case.good for case in cases)
    assert len(cases) >= 20 and 0.3 <= good / len(cases) <= 0.7
    for case in cases:
        if name == "faithfulness":
            assert case.question and parse_context(case.context)
    assert shipped("../faithfulness") is None and shipped("nothing") is None
