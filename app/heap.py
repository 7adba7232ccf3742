"""Python's garbage collector in a worker of `qilijia serve`, kept out of its requests' way.

Measured with one worker answering the household screen, 16 requests in flight: a full collection
walked the 220,000 objects made at start-up (the schema, the modules, the compiled documents) in
about 130 ms, every few seconds, and every request in flight waited for it (p99 140 ms against a p50
of 7). Frozen once the worker has started, those objects are never walked again, and a full
collection takes about 5 ms. The youngest generation, collected every 700 new objects by default,
ran hundreds of times a second; collected every 10,000, the worker answers about a fifth more
requests a second. Cycles among a request's objects are still collected, a little later.
"""

from __future__ import annotations

import gc

#: new container objects between two collections of the youngest generation (Python's default: 700)
YOUNG = 10_000
#: collections of the youngest between two of the middle one, and of the middle between two full ones
MIDDLE, OLD = 20, 10


def settle() -> None:
    """Call once the worker has started: what exists now lives as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)


__all__ = ["settle"]
