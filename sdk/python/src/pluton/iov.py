"""Gather writes (``writev``/``sendmsg``) that survive partial writes."""

from __future__ import annotations

from typing import Callable, Iterable, List, Union

Chunk = Union[bytes, bytearray, memoryview]

#: ``writev(views) -> n`` writes the buffers in order and returns the byte count.
WriteV = Callable[[List[memoryview]], int]


def views(parts: Iterable[Chunk]) -> List[memoryview]:
    """The non-empty parts as memoryviews, ready for :func:`consume`."""
    return [memoryview(p) for p in parts if len(p)]


def consume(pending: List[memoryview], n: int) -> None:
    """Drop the first ``n`` written bytes from ``pending`` in place."""
    while n and pending:
        first = len(pending[0])
        if n >= first:
            n -= first
            del pending[0]
        else:
            pending[0] = pending[0][n:]
            n = 0


def write_all(writev: WriteV, parts: Iterable[Chunk]) -> None:
    """Write every part through a blocking ``writev``, resuming after partial writes."""
    pending = views(parts)
    while pending:
        consume(pending, writev(pending))
