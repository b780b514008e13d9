"""Order look-up for the assistant: the tool the model may call, and the order book behind it."""

from __future__ import annotations

from typing import Any

#: The tool as the model sees it (the OpenAI function shape every tool-capable server reads).
LOOKUP_ORDER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find a customer's order by its id (like A-1042) and return its status.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]-[0-9]{4}$"}},
            "required": ["order_id"],
            "additionalProperties": False,
        },
    },
}

ORDER_SYSTEM = (
    "You are the order desk of an online shop. Look orders up with lookup_order before you say "
    "anything about one; never guess a status. Ask for the order id when the customer gives none."
)

_ORDERS = {
    "A-1042": {"status": "shipped", "carrier": "DHL", "eta": "2026-12-04"},
    "A-1077": {"status": "delivered", "delivered_on": "2026-11-28"},
    "B-2001": {"status": "processing", "ships_by": "2026-12-06"},
}


def lookup_order(order_id: str) -> dict[str, Any]:
    """The order's status, or an error the model can relay."""
    order = _ORDERS.get(order_id)
    if order is None:
        return {"error": f"no order {order_id}"}
    return {"order_id": order_id, **order}
