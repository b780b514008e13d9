"""The cyclic garbage collector paused while a run's report is made."""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block. Building, packing and writing the report of 10,000
    tests makes ~1,000,000 dicts and lists, none in a cycle; each collection they set off would
    walk every object of the process (the session's items and outcomes too), so at the end of a
    large run the collector cost more than the report itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
