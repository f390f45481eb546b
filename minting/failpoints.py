"""Failpoints: let a test kill this process at a named instant of the mint pipeline.

`FURUSATO_FAILPOINT=after_store:2` makes the second pass through `hit("after_store")`
SIGKILL the process — no cleanup, exactly like a power cut. Unset (always, in production),
`hit` is a dictionary lookup. The crash tests use it to cover each window: before signing,
after storing, after broadcasting, before recording a receipt.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def hit(name: str) -> None:
    """Count a pass through failpoint `name`; die here if the environment says so."""
    armed = os.environ.get("FURUSATO_FAILPOINT")
    if not armed:
        return
    target, _, nth = armed.partition(":")
    if target != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
