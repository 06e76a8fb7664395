"""The original Pluton's binary lookup map (version 1001, docs/protocol.md §7.2).

Written by an original manager, or by plutonManager (``<L>.bin`` by
default, or at ``-L`` with ``--lookup-format binary``). Native byte order::

    @0 u32 version (1001)   @4 remap flag 'n'/'Y'   @8 u32 hashTableSize
    @12 u32 maximumEntryIndex   @16 u32 mapSize   @20 u32 entryBaseOffset
    @24 u32 stringBaseOffset    @28 u32 buckets[hashTableSize]
    entries of 20 bytes: i32 keyOffset, keyLength, valueOffset, valueLength,
    nextIndex (0 = none); then the strings.

Keys are search keys ``App.Ser.Ver[.Func]``, values socket paths; the entry
``/rendezvous`` (written by plutonManager) names the rendezvous directory.
"""

from __future__ import annotations

import os
import struct
from typing import Dict, Optional, Tuple

VERSION = 1001
HEADER_SIZE = 32
ENTRY_SIZE = 20
RENDEZVOUS_KEY = "/rendezvous"
_HEAD = struct.Struct("=I c 3x I I I I I")
_ENTRY = struct.Struct("=iiiiI")
_U32 = struct.Struct("=I")


def key_hash(key: bytes) -> int:
    """The original's hash: ``h += h << 5; h ^= c`` in unsigned 32 bits."""
    h = 0
    for c in key:
        h = (h + (h << 5)) & 0xFFFFFFFF
        h ^= c
    return h


def is_binary(data: bytes) -> bool:
    """Whether ``data`` starts with the binary map's version."""
    return len(data) >= 4 and _U32.unpack_from(data, 0)[0] == VERSION


class BinaryMapError(ValueError):
    """A binary map whose header does not fit its data."""


class BinaryMap:
    """A parsed binary lookup map."""

    def __init__(self, data: bytes) -> None:
        if not is_binary(data):
            raise BinaryMapError("not a binary lookup map")
        if len(data) < HEADER_SIZE:
            raise BinaryMapError("%d bytes, less than the %d-byte header" % (len(data), HEADER_SIZE))
        (_, flag, self.table, max_index, self.size, self.entry_base,
         self.string_base) = _HEAD.unpack_from(data, 0)
        if self.table == 0:
            raise BinaryMapError("hashTableSize is 0")
        if HEADER_SIZE - 4 + 4 * self.table > len(data):
            raise BinaryMapError("hashTableSize %d does not fit in %d bytes" % (self.table, len(data)))
        if self.size > len(data):
            raise BinaryMapError("mapSize %d is more than the file's %d bytes" % (self.size, len(data)))
        if self.entry_base > self.size or self.string_base > self.size:
            raise BinaryMapError("entry or string base beyond mapSize %d" % self.size)
        self.data = data
        self.stale = flag != b"n"
        last = max_index
        if self.string_base >= self.entry_base:
            last = min(last, max(0, (self.string_base - self.entry_base) // ENTRY_SIZE - 1))
        self.last = last

    def _entry(self, idx: int) -> Optional[Tuple[bytes, bytes, int]]:
        if idx == 0 or idx > self.last:
            return None
        at = self.entry_base + ENTRY_SIZE * idx
        if at + ENTRY_SIZE > self.size:
            return None
        ko, kl, vo, vl, nxt = _ENTRY.unpack_from(self.data, at)
        out = []
        for off, n in ((ko, kl), (vo, vl)):
            start = self.string_base + off
            if off < 0 or n < 0 or start + n > self.size:
                return None
            out.append(self.data[start:start + n])
        return out[0], out[1], nxt

    def get(self, key: str) -> Optional[str]:
        """The value of exactly ``key``."""
        k = key.encode("utf-8", "surrogateescape")
        idx = _U32.unpack_from(self.data, HEADER_SIZE - 4 + 4 * (key_hash(k) % self.table))[0]
        for _ in range(self.last + 1):
            e = self._entry(idx)
            if e is None:
                return None
            if e[0] == k:
                return e[1].decode("utf-8", "surrogateescape")
            idx = e[2]
        return None

    def find(self, key: str) -> Optional[Tuple[str, str]]:
        """The original's lookup: ``key``, else ``key`` less its last
        ``.component``, and so on. Returns (value, matched key) or None."""
        k = key
        while k:
            v = self.get(k)
            if v is not None:
                return v, k
            if "." not in k:
                break
            k = k.rsplit(".", 1)[0]
        return None

    def entries(self) -> Dict[str, str]:
        """Every entry."""
        out = {}
        for idx in range(1, self.last + 1):
            e = self._entry(idx)
            if e is not None and e[0]:
                out[e[0].decode("utf-8", "surrogateescape")] = e[1].decode("utf-8", "surrogateescape")
        return out

    def rendezvous(self) -> str:
        """The rendezvous directory: the ``/rendezvous`` entry, else the
        directory of the first socket (a map written by the original)."""
        v = self.get(RENDEZVOUS_KEY)
        if v:
            return v
        for idx in range(1, self.last + 1):
            e = self._entry(idx)
            if e is not None and e[1].endswith(b".socket"):
                return os.path.dirname(e[1].decode("utf-8", "surrogateescape"))
        raise BinaryMapError("binary lookup map names no rendezvous directory and no service")
