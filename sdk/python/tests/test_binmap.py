"""The original's binary lookup map (docs/protocol.md §7.2): read from the
one a real plutonManager writes (``<L>.bin``), checked against the layout,
every key resolved, a client calling through it; bad maps are clear faults."""

from __future__ import annotations

import struct
import sys

import pytest

from harness import ECHO, RealManager
from pluton import Client, Fault
from pluton.binmap import BinaryMap, BinaryMapError, key_hash
from pluton.faults import FaultCode
from pluton.lookup import rendezvous_directory


def _config() -> str:
    return "exec %s %s\nminimum-processes 1\nmaximum-processes 1\n" % (sys.executable, ECHO)


@pytest.fixture(scope="module")
def manager():
    m = RealManager({"py.echo.0.raw": _config(), "py..0.raw": _config(), "other.f.3.JSON": _config()})
    yield m
    m.close()


def test_hash():
    assert key_hash(b"") == 0
    assert key_hash(b"a") == 0x61
    assert key_hash(b"ab") == (0x61 * 33) ^ 0x62
    h = 0
    for c in b"a.long.key.that.wraps.past.thirty.two.bits.of.hash":
        h = ((h * 33) & 0xFFFFFFFF) ^ c
    assert key_hash(b"a.long.key.that.wraps.past.thirty.two.bits.of.hash") == h


def test_layout_of_the_managers_binary_map(manager):
    data = (manager.dir / "lookup.map.bin").read_bytes()
    version, flag, table, max_index, size, entry_base, string_base = struct.unpack_from("=I c 3x I I I I I", data)
    m = BinaryMap(data)
    entries = m.entries()
    n = len(entries)
    assert n == 4  # three services and the rendezvous entry
    assert (version, flag) == (1001, b"n")
    assert table == 2 * n + 7
    assert max_index == n + 1
    assert size == len(data)
    assert entry_base == 32 + 4 * table
    assert string_base == entry_base + 20 * (n + 1)
    assert size == string_base + sum(len(k) + len(v) for k, v in entries.items())
    assert data[entry_base:entry_base + 20] == bytes(20)
    rv = str(manager.rendezvous)
    assert entries == {"/rendezvous": rv,
                       "py.raw.0.echo": rv + "/py.echo.0.raw.socket",
                       "py.raw.0": rv + "/py..0.raw.socket",
                       "other.JSON.3.f": rv + "/other.f.3.JSON.socket"}
    for key, value in entries.items():
        assert m.find(key) == (value, key)
    assert m.find("py.raw.0.anything") == (rv + "/py..0.raw.socket", "py.raw.0")
    assert m.find("py.raw.1.echo") is None
    assert rendezvous_directory(str(manager.dir / "lookup.map.bin")) == rv


def test_a_client_calls_through_the_binary_map(manager):
    c = Client(lookup=str(manager.dir / "lookup.map.bin"))
    assert c.call("py.echo.0.raw", b"through the binary map") == b"through the binary map"
    assert c.call("py.other.0.raw", b"wildcard") == b"wildcard"


def test_bad_binary_maps_are_clear_faults(manager, tmp_path):
    good = (manager.dir / "lookup.map.bin").read_bytes()
    cases = [(good[:20], FaultCode.SHM_IMPOSSIBLY_SMALL, "20 bytes"),
             (good[:-3], FaultCode.MAP_INITIALIZATION_FAILED, "mapSize"),
             (good[:8] + bytes(4) + good[12:], FaultCode.MAP_INITIALIZATION_FAILED, "hashTableSize is 0")]
    for i, (data, code, text) in enumerate(cases):
        p = tmp_path / ("bad%d.map" % i)
        p.write_bytes(data)
        with pytest.raises(Fault) as e:
            rendezvous_directory(str(p))
        assert e.value.code == code, e.value
        assert text in str(e.value) and str(p) in str(e.value)
    # Every single-byte corruption parses cleanly or fails with BinaryMapError.
    for i in range(len(good)):
        b = bytearray(good)
        b[i] ^= 0xFF
        try:
            m = BinaryMap(bytes(b))
        except BinaryMapError:
            continue
        m.find("py.raw.0.echo")
        m.entries()
