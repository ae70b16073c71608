"""pipelines.ingest.background.ahead: order kept, producer errors raised in the consumer, early stop stops it."""

from __future__ import annotations

import threading

import pytest

from pipelines.ingest.background import ahead


def test_items_come_in_order_and_are_produced_in_another_thread():
    threads = []

    def produce():
        for i in range(50):
            threads.append(threading.current_thread().name)
            yield i

    assert list(ahead(produce(), depth=3)) == list(range(50))
    assert set(threads) == {"ahead"}


def test_an_error_in_the_producer_is_raised_to_the_consumer_after_the_items_before_it():
    def produce():
        yield 1
        raise ValueError("bad file")

    got = []
    with pytest.raises(ValueError, match="bad file"):
        for item in ahead(produce()):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def produce():
        for i in range(1000):
            produced.append(i)
            yield i

    for item in ahead(produce(), depth=1):
        if item == 2:
            break
    assert len(produced) <= 5  # at most the queue and the item in hand beyond what was consumed
    assert not any(t.name == "ahead" and t.is_alive() for t in threading.enumerate())
