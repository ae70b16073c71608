"""Run an iterator ahead in a worker thread, so producing the next item overlaps consuming this one.

Ingest uses it to read, cast and validate the next chunk (polars, pandera) while DuckDB writes the
current one: both release the GIL, and DuckDB's insert uses about one core of the two.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


def ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield `items` in order, computing up to `depth` of them ahead in a thread. An exception in the
    producer is raised here, in the consumer; a consumer that stops early stops the producer."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(_Raised(error))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
