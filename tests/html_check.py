"""What a browser would treat as live in an HTML page: elements, attributes, script text."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Iterator

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


def _chromium(scratch: Path) -> list[str]:
    """Headless Chromium's command line, its profile in ``scratch`` (skips without Chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={scratch / 'profile'}",
    ]


def chromium_dom(page: Path, scratch: Path, fragment: str = "") -> str:
    """The DOM of ``page`` once headless Chromium has run its script (skips without Chromium)."""
    return subprocess.run(
        [*_chromium(scratch), "--dump-dom", page.as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(scratch)},
    ).stdout


def chromium_evaluate(page: Path, scratch: Path, expression: str, fragment: str = "", width: int = 1400) -> Any:
    """The value of the JavaScript ``expression`` (awaited when a promise) in ``page``, opened in a
    ``width`` pixels wide window of headless Chromium, once the report's script built the table."""
    with chromium_session(page, scratch, fragment, width) as (_, evaluate):
        return evaluate(expression)


@contextlib.contextmanager
def chromium_session(
    page: Path, scratch: Path, fragment: str = "", width: int = 1400, height: int = 900
) -> Iterator[tuple[Callable[..., dict[str, Any]], Callable[[str], Any]]]:
    """``(send, evaluate)`` for ``page`` in a ``width`` x ``height`` window of headless Chromium,
    over the DevTools protocol, once the report's script has built the table (``data-ready``):
    ``send(method, **params)`` a DevTools command to the page, ``evaluate(expression)`` a
    JavaScript expression's value (awaited when a promise)."""
    from websockets.sync.client import connect

    process = subprocess.Popen(
        [*_chromium(scratch), "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(scratch)},
    )
    try:
        assert process.stderr is not None
        endpoint = next(
            found.group(1) for line in process.stderr if (found := re.search(r"DevTools listening on (ws://\S+)", line))
        )
        ids = itertools.count(1)
        with connect(endpoint, max_size=None, open_timeout=30) as browser:

            def command(method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
                number = next(ids)
                browser.send(
                    json.dumps(
                        {
                            "id": number,
                            "method": method,
                            "params": params,
                            **({"sessionId": session} if session else {}),
                        }
                    )
                )
                while True:
                    answer = json.loads(browser.recv(timeout=60))
                    if answer.get("id") == number:
                        assert "error" not in answer, (method, answer["error"])
                        return answer["result"]

            target = command("Target.createTarget", url="about:blank")["targetId"]
            session = command("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

            def send(method: str, **params: Any) -> dict[str, Any]:
                return command(method, session, **params)

            def evaluate(source: str) -> Any:
                result = send("Runtime.evaluate", expression=source, returnByValue=True, awaitPromise=True)
                assert "exceptionDetails" not in result, result["exceptionDetails"]
                return result["result"].get("value")

            send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            send("Page.navigate", url=page.as_uri() + fragment)
            deadline = time.monotonic() + 60
            while not evaluate("document.body && document.body.getAttribute('data-ready') === 'true'"):
                assert time.monotonic() < deadline, f"{page} did not get ready within 60 s"
                time.sleep(0.05)
            yield send, evaluate
    finally:
        process.kill()
        process.wait()
