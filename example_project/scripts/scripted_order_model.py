"""A scripted stand-in for a tool-calling model: the OpenAI Chat Completions API on 127.0.0.1.

The order-lookup tests' recordings (``llm_recordings/tests/test_orders.py/``) were made against
it, as the local model cannot call tools. It plays a well-behaved model: it calls
``lookup_order`` for an order id in the customer's question, answers from the tool's result,
and asks for the id when there is none. Re-record with it (or point ``llm_openai_base_url`` at
a real tool-capable server and re-record against that):

    python scripts/scripted_order_model.py &
    python -m pytest tests/test_orders.py --llm-record-mode=all
"""

from __future__ import annotations

import argparse
import json
import re
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

ORDER_ID = re.compile(r"\b[A-Z]-\d{4}\b")


def answer(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message the script answers ``messages`` with."""
    last = messages[-1]
    if last["role"] == "tool":
        result = json.loads(last["content"])
        if "error" in result:
            return {"content": f"I could not find that order ({result['error']}). Could you check the id?"}
        if result["status"] == "shipped":
            text = (
                f"Order {result['order_id']} has shipped with {result['carrier']} and should arrive on {result['eta']}."
            )
        elif result["status"] == "delivered":
            text = f"Order {result['order_id']} was delivered on {result['delivered_on']}."
        else:
            text = f"Order {result['order_id']} is being prepared and ships by {result['ships_by']}."
        return {"content": text}
    found = ORDER_ID.search(last["content"])
    if found is None:
        return {"content": "Happy to help! What is your order id? It looks like A-1042."}
    arguments = json.dumps({"order_id": found.group()})
    call = {
        "id": f"call_{found.group()}",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": arguments},
    }
    return {"content": None, "tool_calls": [call]}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        message = answer(body["messages"])
        words = len((message.get("content") or "").split()) or 12
        reply = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted-order-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", **message},
                    "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                }
            ],
            "usage": {"prompt_tokens": 60, "completion_tokens": words, "total_tokens": 60 + words},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    port = parser.parse_args().port
    print(f"scripted order model on http://127.0.0.1:{port}/v1")
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
