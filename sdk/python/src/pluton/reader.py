"""Reading packets from a byte source, any number back to back."""

from __future__ import annotations

from typing import Callable, Dict, Optional

from .parser import MSG_UNEXPECTED_EOF, PacketParser, TruncatedPacketError
from .wire import MAX_LENGTH

#: ``read_into(view) -> n`` fills ``view`` with up to ``len(view)`` bytes and
#: returns how many, 0 at end of input (``socket.recv_into``, or ``os.readv``
#: wrapped). It may raise ``BlockingIOError`` on a non-blocking source.
ReadInto = Callable[[memoryview], int]


def _no_source(view: memoryview) -> int:
    raise ValueError("PacketReader has no source: call reset() first")


class PacketReader:
    """Reads packets of one kind (``b"Q"`` or ``b"A"``) through ``read_into``.

    Bytes after a packet's end stay buffered for the next packet. Small
    netstrings are parsed out of a fixed chunk buffer; a payload that does not
    fit the chunk is read straight into its own buffer.
    """

    def __init__(self, want: bytes, read_into: Optional[ReadInto] = None, *,
                 chunk_size: int = 65536, trace: bool = False, max_length: int = MAX_LENGTH) -> None:
        self._parser = PacketParser(want, max_length)
        self._view = memoryview(bytearray(chunk_size))
        self._start = self._end = 0
        self._read_into: ReadInto = read_into or _no_source
        self._trace: Optional[bytearray] = bytearray() if trace else None
        #: True once the source has reported end of input between packets.
        self.eof = False

    def reset(self, read_into: ReadInto, buffered: bytes = b"") -> None:
        """Read from a new source, dropping anything buffered from the old one.

        ``buffered`` holds bytes already read from the new source (at most the
        chunk size): they are parsed before anything else is read.
        """
        self._read_into = read_into
        self._parser.reset()
        n = len(buffered)
        if n > len(self._view):
            raise ValueError("%d buffered bytes exceed the %d-byte chunk" % (n, len(self._view)))
        self._view[:n] = buffered
        self._start, self._end = 0, n
        self.eof = False
        if self._trace is not None:
            del self._trace[:]

    @property
    def started(self) -> bool:
        """True once a byte of the current packet has been read or is buffered."""
        return self._parser.started or self._start < self._end

    def fill(self) -> bool:
        """Between packets, make sure at least one byte is buffered, reading once
        if needed. Return False at end of input (and set :attr:`eof`)."""
        if self._start < self._end:
            return True
        n = self._read_into(self._view)
        self._start, self._end = 0, n
        self.eof = n == 0
        return not self.eof

    def step(self) -> Optional[Dict[int, bytes]]:
        """Parse what is buffered and, if that does not complete a packet, read once.

        Return the packet's fields when complete, else None (check :attr:`eof`).
        Raise :class:`~pluton.parser.ProtocolError` for bad input, and
        :class:`~pluton.parser.TruncatedPacketError` for a packet cut short by
        end of input.
        """
        p = self._parser
        if self._start < self._end:
            start = self._start
            try:
                self._start, done = p.feed(self._view, start, self._end)
            except Exception:
                self._traced(self._view[start:self._end])
                self._start = self._end
                p.reset()
                raise
            self._traced(self._view[start:self._start])
            if done:
                return p.fields()
        room = p.direct()
        if room is not None:
            try:
                n = self._read_into(room)
                self._traced(room[:n])
            finally:
                room.release()
            if n:
                p.advance(n)
                return None
        else:
            n = self._read_into(self._view)
            self._start, self._end = 0, n
            if n:
                return None
        if p.started:
            p.reset()
            raise TruncatedPacketError(MSG_UNEXPECTED_EOF)
        self.eof = True
        return None

    def read_packet(self) -> Optional[Dict[int, bytes]]:
        """Read until a packet is complete (blocking source); None at a clean end of input."""
        while True:
            fields = self.step()
            if fields is not None or self.eof:
                return fields

    def _traced(self, chunk: memoryview) -> None:
        if self._trace is not None:
            self._trace += chunk

    def take_trace(self) -> bytes:
        """The bytes consumed since the last call (only when tracing is on)."""
        if self._trace is None:
            return b""
        t = bytes(self._trace)
        del self._trace[:]
        return t
