"""What a browser would treat as live in an HTML page: elements, attributes, script text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest


class LiveElements(HTMLParser):
    """Every start tag with its attributes, and the text inside ``<script>`` elements."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.data: list[str] = []  # the text of <script type="application/json">: data, never run
        self._in_script: list[str] | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = self.data if dict(attrs).get("type") == "application/json" else self.scripts
        else:
            self._in_script = None

    def handle_endtag(self, tag: str) -> None:
        self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._in_script.append(data)

    def texts(self) -> list[str]:
        """Every string in the embedded report data, unpacked as the report's script does."""
        assert len(self.data) == 1, "the report data is embedded once"
        packed = json.loads(self.data[0])
        written: list[str] = []
        strings: list[str] = []

        def unpack(value: Any) -> Any:
            if isinstance(value, str):
                written.append(value)
                strings.append(value)
            elif isinstance(value, list) and value and value[0] == -1:
                strings.append(written[value[1]])  # a string written before
            elif isinstance(value, list):
                for item in value[1:]:
                    unpack(item)

        unpack(packed["data"])
        return strings

    def assert_inert(self) -> None:
        """Only the report's own script (and its data, as JSON that cannot end its element); no event
        handler, no javascript: URL, no embedded media."""
        scripts = [attributes for tag, attributes in self.tags if tag == "script"]
        assert [a.get("type") for a in scripts] in ([None], [None, "application/json"], ["application/json", None])
        assert "alert" not in "".join(self.scripts)
        assert all("<" not in data for data in self.data)
        for tag, attributes in self.tags:
            assert not any(name.startswith("on") for name in attributes), (tag, attributes)
            assert not any("javascript:" in (value or "") for value in attributes.values()), (tag, attributes)
            assert tag not in ("img", "a", "iframe", "object", "embed"), (tag, attributes)


def chromium_dom(page: Path, scratch: Path, fragment: str = "") -> str:
    """The DOM of ``page`` once headless Chromium has run its script (skips without Chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={scratch / 'profile'}",
         "--dump-dom", page.as_uri() + fragment],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(scratch)},
    ).stdout
