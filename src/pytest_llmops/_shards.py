"""Splitting one suite into N shards by test id, the same way on every machine.

A test belongs to shard ``i`` of ``N`` when the first 8 bytes of the SHA-256 of its node id,
read as a big-endian integer, are ``i - 1`` modulo ``N``. The hash depends on the id alone, so
adding or removing a test never moves another; the merge of shard reports uses the same rule
to tell a missing shard's tests from deselected ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 1) of ``total``."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"``; a ``ValueError`` unless ``1 <= i <= N``."""
        index, sep, total = str(text).strip().partition("/")
        shard = cls(int(index), int(total))
        if not sep or not 1 <= shard.index <= shard.total:
            raise ValueError(text)
        return shard

    def holds(self, nodeid: str) -> bool:
        return shard_of(nodeid, self.total) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "total": self.total}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Shard | None:
        return None if not data else cls(int(data["index"]), int(data["total"]))


def shard_of(nodeid: str, total: int) -> int:
    """The shard (from 1) of ``total`` that runs test ``nodeid``."""
    import hashlib  # loaded by a sharded run, not at start-up

    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1
