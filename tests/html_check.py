"""What a browser would treat as live in an HTML page: elements, attributes, script text."""

from __future__ import annotations

from html.parser import HTMLParser


class LiveElements(HTMLParser):
    """Every start tag with its attributes, and the text inside ``<script>`` elements."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def assert_inert(self) -> None:
        """Only the report's own script; no event handler, no javascript: URL, no embedded media."""
        assert [tag for tag, _ in self.tags].count("script") == 1
        assert "alert" not in "".join(self.scripts)
        for tag, attributes in self.tags:
            assert not any(name.startswith("on") for name in attributes), (tag, attributes)
            assert not any("javascript:" in (value or "") for value in attributes.values()), (tag, attributes)
            assert tag not in ("img", "a", "iframe", "object", "embed"), (tag, attributes)
