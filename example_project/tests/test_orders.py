"""Order look-ups: the model calls lookup_order, the test runs the tool and sends the result
back, then checks the final answer and the calls made on the way (the trajectory).

The local model cannot call tools, so these tests use a tool-calling model over the OpenAI API;
their answers are replayed from llm_recordings/ (see scripts/scripted_order_model.py for how
they were recorded).
"""

from __future__ import annotations

import pytest
from support_app import LOOKUP_ORDER, ORDER_SYSTEM, lookup_order

from pytest_llmops import Message

pytestmark = pytest.mark.llm("openai:scripted-order-model", tools=[LOOKUP_ORDER], max_tokens=200)

TOOLS = {"lookup_order": lookup_order}


def converse(llm, question: str, most_steps: int = 4):
    """The conversation until the model answers in text: each tool call run, its result sent
    back. Returns the final answer and every tool call made."""
    turns = [Message("system", ORDER_SYSTEM), Message("user", question)]
    made = []
    for _ in range(most_steps):
        answer = llm.complete(turns)
        if not answer.tool_calls:
            return answer, made
        made += answer.tool_calls
        turns.append(answer.message)
        turns += [Message.tool_result(call, TOOLS[call.name](**call.arguments)) for call in answer.tool_calls]
    pytest.fail(f"no answer after {most_steps} steps: {[call.describe() for call in made]}")


@pytest.mark.parametrize(
    ("question", "order_id", "says"),
    [
        ("Where is my order A-1042? It's been a week.", "A-1042", "2026-12-04"),
        ("Hi, did order A-1077 arrive? My neighbour wasn't sure.", "A-1077", "delivered on 2026-11-28"),
        ("When will B-2001 ship?", "B-2001", "ships by 2026-12-06"),
    ],
    ids=["shipped", "delivered", "processing"],
)
def test_the_answer_comes_from_the_looked_up_order(llm, golden, question, order_id, says):
    answer, made = converse(llm, question)
    expected = [{"name": "lookup_order", "arguments": {"order_id": order_id}}]
    golden.check(answer, tool_calls=made, metric="tool_trajectory", options={"expected": expected, "mode": "exact"})
    golden.check(
        answer, tool_calls=made, metric="tool_args", options={"schema": LOOKUP_ORDER["function"]["parameters"]}
    )
    golden.check(answer, metric="contains", options={"text": says})


def test_an_unknown_order_is_not_made_up(llm, golden):
    answer, made = converse(llm, "Where is order Z-9999?")
    golden.check(answer, tool_calls=made, metric="tool_called", options={"tool": "lookup_order"})
    golden.check(answer, metric="contains", options={"text": "could not find"})


def test_without_an_order_id_the_model_asks_instead_of_calling(llm, golden):
    answer, made = converse(llm, "My parcel is late, can you help?")
    golden.check(answer, tool_calls=made, metric="tool_call_f1", options={"expected": []})
    golden.check(answer, metric="contains", options={"text": "order id"})
