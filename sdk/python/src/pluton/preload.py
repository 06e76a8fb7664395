"""Warm starts: the template side of ``preload true`` (docs/preload.md).

A service configured with ``preload true`` is started once as a *template*:
the manager execs it with ``plutonPreload=<fd>`` in its environment and one
end of a ``SOCK_SEQPACKET`` socket pair on that fd (fds 3-5 are /dev/null).
Everything the program did before its first iteration (imports, module-level
set-up) is done once, in the template; :meth:`Service.initialize` then runs
the ``on_preload`` hooks, says ``R`` (ready) and waits for fork requests
instead of serving.

A fork request is the message ``F <slot>`` with four descriptors attached
(``SCM_RIGHTS``): the listening socket, the stats segment, the report pipe
and the new instance's stderr pipe. The template forks twice so that the
instance is reparented to the manager (a child subreaper), reaps the middle
process and answers ``P <pid>`` (or ``E <why>``). The instance puts the
descriptors on fds 3, 4, 5 and 2, sets ``plutonSlot``, arms
``PR_SET_PDEATHSIG`` once its parent is the manager, runs the ``on_fork``
hooks and returns to :meth:`Service.initialize`, which opens the stats slot,
the report state and the recorder of its own and serves.

The template exits when the manager closes its end of the socket, and on
SIGTERM (default action).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time
import traceback
from typing import Callable, List, Sequence

PRELOAD_ENV = "plutonPreload"
SLOT_ENV = "plutonSlot"

_FDS = (3, 4, 5, 2)  # where the four descriptors of a fork request go
_MAX_MESSAGE = 64
_PR_SET_PDEATHSIG = 1
_REPARENT_WAIT = 2.0  # seconds the instance waits to see the manager as its parent


def preload_fd() -> int:
    """The fork socket's fd named by ``plutonPreload``, or -1 when this process
    is not a template (absent, empty or not a descriptor number)."""
    value = os.environ.get(PRELOAD_ENV, "")
    return int(value) if value.isdigit() else -1


def run_template(fd: int, warm_up: Sequence[Callable[[], None]],
                 after_fork: Sequence[Callable[[], None]]) -> None:
    """Be the template on fork socket ``fd``: run ``warm_up``, say ready, fork
    on request. Returns only in a forked instance, with its descriptors and
    environment in place and ``after_fork`` run; the template itself ends
    with :func:`os._exit` when the manager closes the socket."""
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    manager = os.getppid()
    for hook in warm_up:
        hook()  # an exception ends the template: the manager logs its stderr and execs instances
    sock.sendall(b"R")
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, len(_FDS))
        except InterruptedError:
            continue
        except OSError as e:
            print("pluton preload: template: fork socket: %s" % e, file=sys.stderr)
            os._exit(1)
        if not msg:
            os._exit(0)  # the manager closed its end: the service is stopping or reloaded
        slot = _parse_request(msg, fds)
        if slot < 0:
            for f in fds:
                os.close(f)
            _reply(sock, b"E bad fork request %r with %d descriptors" % (msg[:32], len(fds)))
            continue
        try:
            pid = _double_fork()
        except OSError as e:
            for f in fds:
                os.close(f)
            _reply(sock, b"E fork: %s" % (e.strerror or str(e)).encode())
            continue
        if pid == 0:  # the instance
            sock.close()
            _become_instance(slot, fds, manager, after_fork)
            return
        for f in fds:
            os.close(f)
        _reply(sock, b"P %d" % pid, pid)


def _reply(sock: socket.socket, msg: bytes, forked: int = 0) -> None:
    """Answer the manager; if it is gone (or gave up on this template), kill
    the instance just forked, which nobody would supervise, and exit."""
    try:
        sock.sendall(msg)
    except OSError:
        if forked:
            try:
                os.kill(forked, signal.SIGKILL)
            except OSError:
                pass
        os._exit(0)


_in_child = False


def _parse_request(msg: bytes, fds: List[int]) -> int:
    parts = msg.split()
    if len(parts) != 2 or parts[0] != b"F" or not parts[1].isdigit() or len(fds) != len(_FDS):
        return -1
    return int(parts[1])


def _double_fork() -> int:
    """Fork the instance through a middle process that exits at once, so the
    instance is reparented to the manager. Returns the instance's pid in the
    template, 0 in the instance."""
    global _in_child
    r, w = os.pipe()
    try:
        middle = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if middle == 0:
        code = 1
        try:
            os.close(r)
            pid = os.fork()
            if pid == 0:
                os.close(w)
                _in_child = True
                return 0
            os.write(w, b"%d" % pid)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            if not _in_child:
                os._exit(code)
    os.close(w)
    try:
        data = b""
        while True:
            chunk = os.read(r, 32)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        # The middle process has exited (or is about to): once it is reaped,
        # the instance's parent is the manager.
        while True:
            try:
                os.waitpid(middle, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
    if not data.isdigit():
        raise OSError(0, "the middle process did not report the instance's pid")
    return int(data)


def _become_instance(slot: int, fds: List[int], manager: int,
                     after_fork: Sequence[Callable[[], None]]) -> None:
    """In the new instance: descriptors, environment, parent-death signal, hooks.
    Any failure ends the instance with status 1 and a line on its stderr."""
    try:
        for src, dst in zip(fds, _FDS):
            os.dup2(src, dst)  # dup2 makes dst inheritable
        for src in fds:
            if src not in _FDS:
                os.close(src)
        os.environ[SLOT_ENV] = str(slot)
        os.environ.pop(PRELOAD_ENV, None)
        os.setpgid(0, 0)  # its own process group, as an exec'd instance
        _await_parent(manager)
        for hook in after_fork:
            hook()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def _await_parent(manager: int) -> None:
    """Wait until the manager is the parent, then ask for SIGKILL when it dies."""
    deadline = time.monotonic() + _REPARENT_WAIT
    while os.getppid() != manager:
        if time.monotonic() > deadline:
            raise RuntimeError("pluton preload: the manager (pid %d) did not become the parent (parent %d)"
                               % (manager, os.getppid()))
        time.sleep(0.001)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != manager:  # the manager died before the signal was armed
        os._exit(1)
