"""Reply drafts: every case checked against its reference and for refusals; a few graded by a judge."""

from __future__ import annotations

import pytest
from support_app import Ticket
from support_app.assistant import finish_reply

RUBRIC = (
    "The reply is polite, addresses the customer's actual problem, and says what happens next; "
    "it promises nothing the shop cannot do."
)
JUDGED = ["late-parcel-birthday", "double-charge", "hacked-account", "cancel-subscription"]


@pytest.mark.llm_dataset("data/tickets.yaml", prompt="reply", expected="reply")
def test_reply_draft_greets_the_customer_and_never_refuses(case, golden):
    """The draft the agent would see (a refusal replaced by a holding reply). Its similarity to
    the reference has no floor (a small model's drafts vary too much); it is tracked, and the
    baseline gate fails the run when it drops."""
    customer = case.inputs["customer"]
    draft = finish_reply(case.text, customer)
    golden.check(
        draft, reference=case.expected, metrics={"no_refusal": 1.0, "contains": {"text": customer}, "embedding": 0.0}
    )


@pytest.mark.parametrize("ticket_id", JUDGED)
@pytest.mark.llm_judge(rubric=RUBRIC, label="support rubric", threshold=0.25, max_tokens=24)
def test_reply_meets_the_support_rubric(assistant, judge, tickets, ticket_id):
    """An LLM judge grades the draft (1-5, normalised) with our prompt, prompts/judge_score.jinja."""
    row = tickets[ticket_id]
    reply = assistant.draft_reply(Ticket(row["customer"], row["ticket"]))
    judge.check(reply, question=row["ticket"])


@pytest.mark.parametrize("ticket_id", JUDGED[:3])
@pytest.mark.llm_judge(mode="pairwise", rubric=RUBRIC, label="pairwise vs accepted", max_tokens=24)
@pytest.mark.golden(metric="embedding", threshold=0.8)
def test_reply_is_at_least_as_good_as_the_accepted_one(assistant, judge, golden, tickets, ticket_id):
    """Pairwise: the judge compares the new draft with the accepted one (kept in the snapshot
    file), in both orders; it passes unless the accepted draft wins both times."""
    row = tickets[ticket_id]
    reply = assistant.draft_reply(Ticket(row["customer"], row["ticket"]))
    accepted = golden.check(reply, name="reply")
    judge.check(reply, reference=accepted.reference, question=row["ticket"])
