"""The recorder (docs/protocol.md §9): every request read and every response
written, each in its own file, so that a request can be replayed later with
``./svc 3<in.F 4>out`` or ``plTest``."""

from __future__ import annotations

import os
from typing import Optional, Sequence

from .iov import Chunk

#: Mode of every recorder file.
FILE_MODE = 0o640


class Recorder:
    """Writes ``<prefix>in.<pid>.<NNNNN>`` and ``<prefix>out.<pid>.<NNNNN>``.

    For each request the index is incremented first and then reduced modulo
    ``cycle`` when that is not 0, so the first pair is ``00001`` and with
    cycle 3 the files are ``00001``, ``00002``, ``00000``, ``00001``, ...
    A file that cannot be opened or written is reported once on stderr and
    recording stops; it never fails the request.
    """

    def __init__(self, prefix: bytes, cycle: int, pid: int) -> None:
        self.prefix = prefix
        self.cycle = cycle
        self._pid = pid
        self._index = 0
        self._counter = 0
        #: False once a file could not be written.
        self.enabled = True

    def path(self, direction: str, index: int) -> bytes:
        """The file of ``direction`` (``"in"`` or ``"out"``) for ``index``."""
        return b"%s%s.%d.%05d" % (self.prefix, direction.encode(), self._pid, index)

    def record_in(self, packet: bytes) -> int:
        """Take the next index and write the request packet; return the index."""
        self._counter += 1
        self._index = self._counter % self.cycle if self.cycle else self._counter
        self._write(self.path("in", self._index), (packet,))
        return self._index

    def record_out(self, parts: Sequence[Chunk]) -> None:
        """Write the response packet of the current index."""
        self._write(self.path("out", self._index), parts)

    def _write(self, path: bytes, parts: Sequence[Chunk]) -> None:
        if not self.enabled:
            return
        fd: Optional[int] = None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
            os.fchmod(fd, FILE_MODE)  # whatever the umask
            for part in parts:
                view = memoryview(part)
                while len(view):
                    view = view[os.write(fd, view):]
        except OSError as e:
            self.enabled = False
            try:
                os.write(2, b"pluton: recorder: cannot write %s: %s; recording stops\n"
                         % (path, os.strerror(e.errno or 0).encode()))
            except OSError:
                pass
        finally:
            if fd is not None:
                os.close(fd)
