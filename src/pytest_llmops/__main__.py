"""``python -m pytest_llmops``: the plugin's command line."""

from __future__ import annotations

import sys

from pytest_llmops._cli import main

sys.exit(main())
