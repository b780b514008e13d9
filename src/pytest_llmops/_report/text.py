"""Untrusted text (model output, prompts, test ids, error messages) made safe to show.

One representation for every output:

- a lone surrogate (``"\\ud800"``: not Unicode, and not encodable as UTF-8) becomes U+FFFD,
  everywhere, the JSON report included;
- a control character (C0 but tab and newline, DEL and C1: NUL, ESC, BEL, backspace, carriage
  return...) becomes a visible escape such as ``\\x1b`` in the terminal, HTML, Markdown and
  JUnit XML, so no control sequence reaches a terminal and XML 1.0 stays valid. The JSON
  report keeps control characters, escaped as JSON does (``\\u001b``).
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f]")


def well_formed(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD: always encodable as UTF-8."""
    try:
        text.encode("utf-8")  # far faster than the search, on a whole report as on a word
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` well formed, with control characters as ``\\xNN`` escapes.

    With ``lines`` it keeps tabs and newlines (a block of text); without, it is one line.
    """
    control = _CONTROL if lines else _CONTROL_OR_BREAK
    return control.sub(_escape, well_formed(text))


def needs_escaping(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate or a control character other than tab and newline."""
    return bool(_CONTROL.search(text) or _SURROGATE.search(text))


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"
