"""Test helpers: start services with chosen fds, play the manager, talk raw packets."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from pluton import stats
from pluton.reader import PacketReader
from pluton.wire import response_from_fields, ResponsePacket

SDK = Path(__file__).resolve().parent.parent
REPO = SDK.parent.parent
ECHO = SDK / "examples" / "echo.py"

HELLO = b"0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,5kHello,0z\n"

# Runs in the child: move the passed fds to their target numbers, then exec.
_LAUNCHER = r"""
import fcntl, os, sys
pairs = [tuple(int(n) for n in p.split(":")) for p in sys.argv[1].split(",") if p]
moved = [(fcntl.fcntl(src, fcntl.F_DUPFD, 100), dst) for src, dst in pairs]
for src, _ in pairs:
    os.close(src)
for tmp, dst in moved:
    os.dup2(tmp, dst)
    os.close(tmp)
os.execv(sys.executable, [sys.executable] + sys.argv[2:])
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 5 ms until it is true; fail after ``timeout`` s."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.005)


def wait_connectable(path: Path, timeout: float = 5.0) -> None:
    """Wait until a service listens at ``path``."""
    def listening() -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            return s.connect_ex(str(path)) == 0
    wait_for(listening, timeout, "a listener at %s" % path)


def spawn(argv: Sequence[str], fds: Dict[int, int], env: Optional[Dict[str, str]] = None,
          stderr: Optional[int] = None) -> subprocess.Popen:  # type: ignore[type-arg]
    """Start ``python argv...`` with parent fd ``k`` at child fd ``fds[k]``; no other fds."""
    spec = ",".join("%d:%d" % kv for kv in fds.items())
    full_env = dict(os.environ)
    full_env.pop("plutonAcceptSocket", None)
    full_env.pop("plutonPacketTrace", None)
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-c", _LAUNCHER, spec] + [str(a) for a in argv],
                            pass_fds=list(fds), env=full_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr)


def run_standalone(request: bytes, tmp: Path, env: Optional[Dict[str, str]] = None,
                   argv: Sequence[str] = (str(ECHO),)) -> "tuple[int, bytes, bytes]":
    """Run a service with ``request`` on fd 3 and a file on fd 4: (rc, response, stderr)."""
    req, resp, err = tmp / "request", tmp / "response", tmp / "stderr"
    req.write_bytes(request)
    fd_in = os.open(req, os.O_RDONLY)
    fd_out = os.open(resp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        p = spawn(argv, {fd_in: 3, fd_out: 4}, env=env, stderr=fd_err)
    finally:
        for fd in (fd_in, fd_out, fd_err):
            os.close(fd)
    rc = p.wait(timeout=10)
    return rc, resp.read_bytes(), err.read_bytes()


def connect(path: Path, timeout: float = 5.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s


def read_response(sock: socket.socket) -> ResponsePacket:
    """Read one response packet from ``sock`` (which stays open)."""
    fields = PacketReader(b"A", sock.recv_into).read_packet()
    assert fields is not None, "connection closed before a response"
    return response_from_fields(fields)


def read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def exchange(path: Path, packet: bytes) -> bytes:
    """One raw exchange: send ``packet``, return everything until the service closes."""
    with connect(path) as s:
        s.sendall(packet)
        return read_to_eof(s)


def request_packet(data: bytes = b"Hello", rid: int = 100, flags: bytes = b"", context: bytes = b"") -> bytes:
    """A request packet to system.echo.0.raw from plSend:26446."""
    ctx = b"%dj%s," % (len(context), context) if context else b""
    body = b"%dk%s," % (len(data), data) if data else b""
    return (b"0Q,%db%d,12aplSend:26446,17csystem.echo.0.raw,4l4000,%s%s%s0z\n"
            % (len(str(rid)), rid, flags, ctx, body))


class Manager:
    """Plays the manager for manager-mode tests: one listening socket shared by
    the instances, a stats segment file and a report pipe."""

    def __init__(self, tmp: Path, slots: int = 1, affinity_timeout: int = 10,
                 header: Optional[bytes] = None, **limits: Any) -> None:
        self.tmp = tmp
        self.socket_path = tmp / "system.echo.0.raw.socket"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.socket_path))
        self.listener.listen(64)
        self.segment = tmp / "system.echo.0.raw.mmap"
        if header is None:
            header = stats.pack_header(slots, affinity_timeout, **limits)
        self.segment.write_bytes(header + bytes(stats.SLOT_SIZE * slots))
        self.header_size = len(header)
        self.report_r, self.report_w = os.pipe()
        os.set_blocking(self.report_r, False)
        self.procs: List[subprocess.Popen] = []  # type: ignore[type-arg]
        self._records = b""

    def start(self, slot: int = 0, env: Optional[Dict[str, str]] = None, wait: bool = True,
              argv: Sequence[str] = (str(ECHO),)) -> subprocess.Popen:  # type: ignore[type-arg]
        """Start an instance (the echo by default) in ``slot``; wait until it is idle."""
        seg = os.open(self.segment, os.O_RDWR)
        err = os.open(self.tmp / ("stderr.%d" % slot), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            p = spawn(argv, {self.listener.fileno(): 3, seg: 4, self.report_w: 5},
                      env=dict({"plutonSlot": str(slot)}, **(env or {})), stderr=err)
        finally:
            os.close(seg)
            os.close(err)
        self.procs.append(p)
        if wait:
            wait_for(lambda: self.slot(slot).pid == p.pid and self.slot(slot).state == stats.SlotState.IDLE,
                     what="the instance to start")
        return p

    def slot(self, i: int = 0) -> stats.Slot:
        return stats.unpack_slot(self.segment.read_bytes(), i)

    def set_u32(self, slot: int, offset: int, value: int) -> None:
        """Write a manager field (48 maximumRequests, 52 shutdownRequest)."""
        with open(self.segment, "r+b") as f:
            f.seek(self.header_size + slot * (stats.SLOT_SIZE if self.header_size == stats.HEADER_SIZE
                                              else stats.V1_SLOT_SIZE) + offset)
            f.write(value.to_bytes(4, "little"))

    def reports(self, count: int = 1, timeout: float = 5.0) -> List[bytes]:
        """Wait for ``count`` report records and return them."""
        end = time.monotonic() + timeout
        while len(self._records) < count * stats.REPORT_SIZE:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("got %d bytes of reports, want %d records" % (len(self._records), count))
            select.select([self.report_r], [], [], left)
            try:
                self._records += os.read(self.report_r, 65536)
            except BlockingIOError:
                pass
        n = count * stats.REPORT_SIZE
        out, self._records = self._records[:n], self._records[n:]
        return [out[i:i + stats.REPORT_SIZE] for i in range(0, n, stats.REPORT_SIZE)]

    def no_report(self, within: float = 0.2) -> bool:
        """True if no report record arrives within ``within`` seconds."""
        r, _, _ = select.select([self.report_r], [], [], within)
        return not r and not self._records

    def stderr(self, slot: int = 0) -> str:
        p = self.tmp / ("stderr.%d" % slot)
        return p.read_text() if p.exists() else ""

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        self.listener.close()
        os.close(self.report_r)
        os.close(self.report_w)


def pluton_bin(name: str) -> str:
    """A command built by ``make build`` (``$PLUTON_BIN``, else <repo>/bin)."""
    path = Path(os.environ.get("PLUTON_BIN") or REPO / "bin") / name
    if not path.exists():
        raise AssertionError("%s is not built: run make build (or set PLUTON_BIN)" % path)
    return str(path)


class RealManager:
    """A real plutonManager over a short temporary directory (socket paths must
    fit in sun_path): configuration in ``config``, lookup map ``lookup``."""

    def __init__(self, services: Dict[str, str]) -> None:
        import tempfile
        self.dir = Path(tempfile.mkdtemp(prefix="plpy"))
        self.config = self.dir / "c"
        self.rendezvous = self.dir / "r"
        self.lookup = self.dir / "lookup.map"
        self.config.mkdir()
        for key, text in services.items():
            (self.config / key).write_text(text)
        self.log_path = self.dir / "manager.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([pluton_bin("plutonManager"), "-C", str(self.config), "-R", str(self.rendezvous),
                                      "-L", str(self.lookup), "-l", "processExit", "-l", "processLog"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_for(lambda: "Manager ready:" in self.log() or self.proc.poll() is not None, timeout=15,
                 what="the manager to be ready")
        assert self.proc.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        import shutil
        if self.proc.poll() is None:
            self.proc.send_signal(15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)
