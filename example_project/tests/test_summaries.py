"""Ticket summaries: each case scored against its reference, plus a snapshot, samples and fluency."""

from __future__ import annotations

import pytest
from support_app import Ticket
from support_app.assistant import clean_summary


@pytest.mark.llm_dataset("data/tickets.yaml", prompt="summarize", expected="summary")
@pytest.mark.golden(metrics={"rougeL": 0.05, "chrf": 15, "embedding": 0.3})
def test_summary_matches_the_reference(case, golden):
    """One test per ticket; the 30 summaries are generated concurrently (one padded batch locally)."""
    golden.check(clean_summary(case.text), reference=case.expected)


@pytest.mark.golden(metrics={"rougeL": 0.9, "embedding": 0.95})
def test_summary_of_a_missing_parcel_is_stable(assistant, tickets, golden):
    """Scored against the accepted summary in __llm_snapshots__/test_summaries.yaml, not a
    hand-written one: any drift from it shows as a diff (accept with --llm-snapshot-update)."""
    row = tickets["parcel-marked-delivered"]
    golden.check(assistant.summarise(Ticket(row["customer"], row["ticket"])))


@pytest.mark.llm(temperature=0.8, seed=7)
@pytest.mark.golden(metrics={"embedding": 0.45}, samples=5, min_passes=3)
def test_sampled_summaries_mostly_agree_with_the_reference(llm, prompt, golden, tickets):
    """At temperature 0.8 the summary varies: pass when 3 of 5 samples are close enough."""
    row = tickets["double-charge"]
    rendered = prompt("summarize", customer=row["customer"], ticket=row["ticket"])
    samples = llm.map([rendered] * golden.samples)
    golden.check_samples([clean_summary(s.text) for s in samples], reference=row["summary"])


@pytest.mark.golden(metric="perplexity", threshold=100)
def test_summary_reads_fluently(assistant, tickets, golden):
    """Perplexity of the summary under the local model: word salad scores in the thousands."""
    row = tickets["double-charge"]
    golden.check(assistant.summarise(Ticket(row["customer"], row["ticket"])))
