"""What a run asked for and what it left out: tells a test this run did not run from a removed one.

A baseline test absent from this run is *not run* when it was deselected (``-k``, ``-m``,
``--deselect``, ``--llm-changed-prompts``), collected but never reached (``-x``, Ctrl-C), or
outside the paths and node ids on the command line (or under ``--ignore``). Otherwise this run
would not collect it at all: it was *removed*.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

#: A node-id prefix that holds every test (the rootdir itself).
EVERYTHING = "."


@dataclass(frozen=True)
class Selection:
    """The run's selection: node-id prefixes asked for, ignored paths and globs, test ids left out."""

    asked: tuple[str, ...] = (EVERYTHING,)
    ignored: tuple[str, ...] = ()
    ignored_globs: tuple[str, ...] = ()
    deselected: frozenset[str] = frozenset()
    not_reached: frozenset[str] = frozenset()

    def why_not_run(self, nodeid: str) -> str | None:
        """Why this run did not run ``nodeid`` (None: it would not even be collected)."""
        if nodeid in self.deselected:
            return "deselected"
        if nodeid in self.not_reached:
            return "not reached"
        if not any(_under(nodeid, prefix) for prefix in self.asked) or self._ignores(nodeid):
            return "not asked for"
        return None

    def _ignores(self, nodeid: str) -> bool:
        path = nodeid.partition("::")[0]
        return any(_under(path, prefix) for prefix in self.ignored) or any(
            fnmatch.fnmatch(path, glob) for glob in self.ignored_globs
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "asked": list(self.asked),
            "ignored": list(self.ignored),
            "ignored_globs": list(self.ignored_globs),
            "deselected": sorted(self.deselected),
            "not_reached": sorted(self.not_reached),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Selection:
        """A report's selection; a report without one asked for everything and left nothing out."""
        if not data:
            return cls()
        return cls(
            asked=_strings(data.get("asked", [EVERYTHING])),
            ignored=_strings(data.get("ignored", ())),
            ignored_globs=_strings(data.get("ignored_globs", ())),
            deselected=frozenset(_strings(data.get("deselected", ()))),
            not_reached=frozenset(_strings(data.get("not_reached", ()))),
        )


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


def _under(nodeid: str, prefix: str) -> bool:
    """Whether ``nodeid`` is ``prefix`` or inside it (a folder, a module, a class, a parametrized test)."""
    if prefix == EVERYTHING:
        return True
    return nodeid == prefix or nodeid.startswith((prefix + "/", prefix + "::", prefix + "["))
