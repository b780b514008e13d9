"""Secrets out of everything the plugin keeps or shows: one rule, applied once per value."""

from __future__ import annotations

import json
import os
import re

# Environment variables with names like these hold secrets.
_SECRET_ENV = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_|$)", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """Replace the value of every secret-looking environment variable found in ``text``."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_ENV.search(name):
            text = text.replace(json.dumps(value)[1:-1], f"<{name}>")
    return text
