"""Coordination between the instances of services, hosted by plutonManager.

Semaphores whose operations are reverted when an instance dies, mutexes
released when their holder dies, versioned shared variables, broadcast
messages and singleton timers (docs/coordination.md)::

    from pluton.coord import Coord

    coord = Coord()                       # $plutonControl and $plutonService
    coord.semaphores.create("db", 4, protected=True)
    if coord.semaphores.decrement("db", wait=True, timeout=2.0) >= 0:
        try:
            ...
        finally:
            coord.semaphores.increment("db")
    with coord.mutexes.lock("refresh", timeout=5.0):
        ...
    coord.timers.every("cleanup", 60.0, cleanup)   # one instance runs it
    coord.messages.on("reload", lambda m: ...)

Messages and timer ticks are delivered by :meth:`Coord.poll`, which the
service loop calls between requests (before it waits for the next
connection, and at least once a second while idle); a program that is not a
service loop calls ``poll()`` itself. Names are scoped by the service;
``global_=True`` names the manager-wide object.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import traceback
import weakref
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

__all__ = [
    "Coord",
    "CoordError",
    "CoordTimeout",
    "Message",
    "CONTROL_ENV",
    "SERVICE_ENV",
    "encode",
]

CONTROL_ENV = "plutonControl"
SERVICE_ENV = "plutonService"
MAX_PACKET = 1 << 20
_ORDER = b"bospnxgPwiteVvr"

_open: "weakref.WeakSet[Coord]" = weakref.WeakSet()


class CoordError(Exception):
    """An error answered by the manager: ``code`` (``limit``, ``too_large``,
    ``not_found``, ``not_owner``, ``deadlock``, ``conflict``, ``timeout``,
    ``bad_request``, ...) and ``text``; or a lost connection (code ``closed``)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__("%s: %s" % (code, text))
        self.code = code
        self.text = text


class CoordTimeout(CoordError):
    """A lock or wait_for_change that did not succeed within its timeout."""


class Message(NamedTuple):
    """A broadcast message as received."""

    name: str
    args: bytes
    sender: str  # the sender's service key


def encode(kind: bytes, fields: Dict[bytes, bytes]) -> bytes:
    """One control-protocol packet: ``0<kind>,`` fields in the protocol's order, ``0z\\n``."""
    out = [b"0" + kind + b","]
    for t in _ORDER:
        k = bytes([t])
        if k in fields:
            v = fields[k]
            out.append(b"%d%s%s," % (len(v), k, v))
    out.append(b"0z\n")
    return b"".join(out)


def _parse(buf: bytearray) -> Optional[Tuple[bytes, Dict[bytes, bytes], int]]:
    """Parse one packet from the front of buf: (kind, fields, length) or None if incomplete."""
    pos, kind = 0, b""
    fields: Dict[bytes, bytes] = {}
    n = len(buf)
    while True:
        start = pos
        while pos < n and 48 <= buf[pos] <= 57:
            pos += 1
            if pos - start > 8:
                raise CoordError("bad_packet", "netstring length too long")
        if pos == n:
            return None
        if pos == start:
            raise CoordError("bad_packet", "leading netString character not a digit")
        length = int(buf[start:pos])
        t = bytes(buf[pos:pos + 1])
        pos += 1
        if pos + length + 1 > n:
            if length > MAX_PACKET:
                raise CoordError("bad_packet", "packet exceeds 1 MiB")
            return None
        payload = bytes(buf[pos:pos + length])
        pos += length
        if buf[pos] not in (44, 10):
            raise CoordError("bad_packet", "incorrect netString terminator - comma or \\n expected")
        pos += 1
        if not kind:
            kind = t
        elif t == b"z":
            return kind, fields, pos
        else:
            fields[t] = payload


class Coord:
    """One connection to the manager's coordination server (one per process)."""

    def __init__(self, path: Optional[str] = None, service: Optional[str] = None) -> None:
        path = path or os.environ.get(CONTROL_ENV, "")
        service = service or os.environ.get(SERVICE_ENV, "")
        if not path:
            raise CoordError("closed", "no control socket: %s is not set (run the service under "
                             "plutonManager, or pass path=)" % CONTROL_ENV)
        if not service:
            raise CoordError("closed", "no service key: %s is not set (run the service under "
                             "plutonManager, or pass service=)" % SERVICE_ENV)
        self.service = service
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # not inherited by exec'd children
        try:
            self._sock.connect(path)
        except OSError as e:
            self._sock.close()
            raise CoordError("closed", "connect to the manager's control socket %s: %s" % (path, e.strerror)) from e
        self._buf = bytearray()
        self._id = 0
        self._events: List[Dict[bytes, bytes]] = []
        self._handlers: Dict[str, Callable[[Message], None]] = {}
        self._timers: Dict[str, Callable[[], None]] = {}
        self._closed = False
        self.semaphores = Semaphores(self)
        self.mutexes = Mutexes(self)
        self.variables = Variables(self)
        self.messages = Messages(self)
        self.timers = Timers(self)
        r = self._call({b"o": b"hello", b"s": service.encode()})
        self.pid = int(r.get(b"i", b"0"))
        _open.add(self)

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        """Close the connection: the manager reverts this process's protected
        operations, releases its mutexes and moves its timers."""
        if not self._closed:
            self._closed = True
            self._sock.close()
            _open.discard(self)

    def __enter__(self) -> "Coord":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_packet(self, block: bool) -> Optional[Tuple[bytes, Dict[bytes, bytes]]]:
        while True:
            got = _parse(self._buf)
            if got is not None:
                kind, fields, used = got
                del self._buf[:used]
                return kind, fields
            try:
                chunk = self._sock.recv(65536, 0 if block else socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):
                    return None
                self.close()
                raise CoordError("closed", "connection to the manager lost: %s" % e.strerror) from e
            if not chunk:
                self.close()
                raise CoordError("closed", "the manager closed the control connection")
            self._buf += chunk

    def _call(self, fields: Dict[bytes, bytes]) -> Dict[bytes, bytes]:
        if self._closed:
            raise CoordError("closed", "the control connection is closed")
        self._id += 1
        rid = b"%d" % self._id
        fields[b"b"] = rid
        try:
            self._sock.sendall(encode(b"R", fields))
        except OSError as e:
            self.close()
            raise CoordError("closed", "connection to the manager lost: %s" % e.strerror) from e
        while True:
            got = self._read_packet(True)
            if got is None:
                continue
            kind, f = got
            if kind == b"E":
                self._events.append(f)
                continue
            if f.get(b"b") != rid:
                if f.get(b"p"):
                    raise CoordError(f[b"p"].decode(), f.get(b"r", b"").decode("utf-8", "replace"))
                continue
            code = f.get(b"p")
            if code:
                cls = CoordTimeout if code == b"timeout" else CoordError
                raise cls(code.decode(), f.get(b"r", b"").decode("utf-8", "replace"))
            return f

    def _req(self, op: str, name: str, global_: bool = False, **extra: bytes) -> Dict[bytes, bytes]:
        f = {b"o": op.encode(), b"n": name.encode()}
        if global_:
            f[b"g"] = b""
        for k, v in extra.items():
            f[k.encode()] = v
        return f

    def poll(self) -> int:
        """Deliver the messages and timer ticks that arrived (without waiting):
        message handlers run once per message, a timer's function once however
        many ticks queued. A callback's exception is written to stderr and
        the others still run. Returns the number of callbacks run."""
        if self._closed:
            return 0
        while True:
            got = self._read_packet(False)
            if got is None:
                break
            if got[0] == b"E":
                self._events.append(got[1])
        events, self._events = self._events, []
        ran = 0
        ticked = set()
        for f in events:
            kind = f.get(b"o")
            name = f.get(b"n", b"").decode("utf-8", "replace")
            if kind == b"message":
                h = self._handlers.get(name) or self._handlers.get("*")
                if h is not None:
                    _run(h, Message(name, f.get(b"v", b""), f.get(b"s", b"").decode("utf-8", "replace")))
                    ran += 1
            elif kind == b"timer" and name not in ticked:
                fn = self._timers.get(name)
                if fn is not None:
                    ticked.add(name)
                    _run(fn)
                    ran += 1
        return ran

    def fileno(self) -> int:
        """The connection's descriptor (readable when events are waiting)."""
        return self._sock.fileno()

    def wait(self, timeout: float) -> int:
        """Wait up to timeout seconds for an event, then poll()."""
        if not self._buf and not self._events:
            select.select([self._sock], [], [], timeout)
        return self.poll()


def _run(fn: Callable[..., None], *args: object) -> None:
    """Run a callback; an exception is written to stderr (the manager logs
    it) and the instance goes on, as with a request handler."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a callback must not end the service loop
        traceback.print_exc()


def poll_all() -> int:
    """poll() every open Coord of this process; the service loop calls this
    between requests. Errors of a lost connection are left to the next call."""
    if not _open:  # the usual case: no Coord, nothing to iterate
        return 0
    ran = 0
    for c in list(_open):
        try:
            ran += c.poll()
        except CoordError:
            pass
    return ran


def _ms(timeout: Optional[float]) -> Dict[str, bytes]:
    if timeout is None:
        return {}
    if timeout < 0:
        raise ValueError("timeout must be >= 0 seconds")
    return {"t": b"%d" % int(round(timeout * 1000))}


class Semaphores:
    """Counting semaphores held by the manager."""

    def __init__(self, c: Coord) -> None:
        self._c = c

    def create(self, name: str, initial: int = 0, protected: bool = True, global_: bool = False) -> bool:
        """Create the semaphore; False if it existed (then unchanged). A protected
        semaphore's operations by an instance are reverted when it exits."""
        extra = {"i": b"%d" % initial}
        if protected:
            extra["P"] = b""
        return self._c._call(self._c._req("sem.create", name, global_, **extra)).get(b"i") == b"1"

    def increment(self, name: str, global_: bool = False) -> int:
        """Add one; the new value."""
        return int(self._c._call(self._c._req("sem.increment", name, global_))[b"i"])

    def decrement(self, name: str, wait: bool = False, timeout: Optional[float] = None,
                  global_: bool = False) -> int:
        """Subtract one; the new value, or -1 when the value is 0 and wait is
        False, or the timeout passed first (the Netplex convention)."""
        extra = {}
        if wait:
            extra = {"w": b"", **_ms(timeout)}
        return int(self._c._call(self._c._req("sem.decrement", name, global_, **extra))[b"i"])

    def get(self, name: str, global_: bool = False) -> int:
        """The current value."""
        return int(self._c._call(self._c._req("sem.get", name, global_))[b"i"])

    def destroy(self, name: str, global_: bool = False) -> bool:
        """Remove the semaphore; False if it did not exist."""
        return self._c._call(self._c._req("sem.destroy", name, global_)).get(b"i") == b"1"


class Lock:
    """A held mutex; a context manager that unlocks on exit."""

    def __init__(self, mutexes: "Mutexes", name: str, global_: bool) -> None:
        self._m, self.name, self._global = mutexes, name, global_
        self.held = True

    def unlock(self) -> None:
        if self.held:
            self.held = False
            self._m.unlock(self.name, global_=self._global)

    def __enter__(self) -> "Lock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()


class Mutexes:
    """Named mutexes held by the manager, released when their holder dies."""

    def __init__(self, c: Coord) -> None:
        self._c = c

    def lock(self, name: str, timeout: Optional[float] = None, global_: bool = False) -> Lock:
        """Lock (waiting up to timeout seconds, None: forever); raises
        CoordTimeout when it passes. Use as ``with coord.mutexes.lock(name):``."""
        self._c._call(self._c._req("mutex.lock", name, global_, **_ms(timeout)))
        return Lock(self, name, global_)

    def unlock(self, name: str, global_: bool = False) -> None:
        """Unlock a mutex this instance holds (CoordError not_owner otherwise)."""
        self._c._call(self._c._req("mutex.unlock", name, global_))


def _value(f: Dict[bytes, bytes]) -> Tuple[Optional[bytes], int]:
    ver = int(f.get(b"V", b"0"))
    return (f.get(b"v", b"") if ver else None), ver


class Variables:
    """Versioned shared variables (values up to 64 KiB)."""

    def __init__(self, c: Coord) -> None:
        self._c = c

    def set(self, name: str, value: bytes, global_: bool = False) -> int:
        """Store the value (bytes, or str as UTF-8); its new version."""
        if isinstance(value, str):
            value = value.encode()
        return int(self._c._call(self._c._req("var.set", name, global_, v=bytes(value)))[b"V"])

    def get(self, name: str, global_: bool = False) -> Tuple[Optional[bytes], int]:
        """(value, version); (None, 0) for a variable never set."""
        return _value(self._c._call(self._c._req("var.get", name, global_)))

    def wait_for_change(self, name: str, version: int, timeout: Optional[float] = None,
                        global_: bool = False) -> Tuple[Optional[bytes], int]:
        """Wait until the version differs from version (0: until first set);
        (value, version) then. Raises CoordTimeout when timeout passes first."""
        return _value(self._c._call(self._c._req("var.wait", name, global_, V=b"%d" % version, **_ms(timeout))))


class Messages:
    """Broadcast messages."""

    def __init__(self, c: Coord) -> None:
        self._c = c

    def broadcast(self, pattern: str, name: str, args: bytes = b"") -> int:
        """Send to every instance (this one included) of the services whose key
        matches pattern (shell glob; "" for this service); the number reached."""
        if isinstance(args, str):
            args = args.encode()
        f = self._c._req("msg.broadcast", name, False, x=pattern.encode(), v=bytes(args))
        return int(self._c._call(f)[b"i"])

    def on(self, name: str, fn: Optional[Callable[[Message], None]]) -> None:
        """Handle the messages named name ("*": all without a handler of their own); None removes."""
        if fn is None:
            self._c._handlers.pop(name, None)
        else:
            self._c._handlers[name] = fn


class Timers:
    """Singleton timers: one instance of the service runs each."""

    def __init__(self, c: Coord) -> None:
        self._c = c

    def every(self, name: str, seconds: float, fn: Callable[[], None]) -> bool:
        """Run fn every seconds in exactly one instance of the service (the
        manager elects it; the next takes over within one period when it dies).
        True if this instance owns it now."""
        self._c._timers[name] = fn
        try:
            f = self._c._call(self._c._req("timer.every", name, False, e=b"%d" % int(round(seconds * 1000))))
        except CoordError:
            self._c._timers.pop(name, None)
            raise
        return f.get(b"i") == b"1"

    def cancel(self, name: str) -> None:
        """Stop taking part in the timer (another instance takes over if this one owned it)."""
        self._c._timers.pop(name, None)
        self._c._call(self._c._req("timer.cancel", name))
