"""A push parser for request or response packets (docs/protocol.md §1.1-1.2).

Feed it bytes in chunks of any size; it reports when a packet is complete and
how many bytes of the chunk belonged to it, so packets can arrive back to back.
Once a payload's length is known and it does not fit the current chunk, the
payload is filled in place (:meth:`PacketParser.direct`), growing its buffer
as bytes arrive rather than trusting a declared length up front.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

from .wire import MAX_LENGTH, T_END, packet_type_name

Buffer = Union[bytes, bytearray, memoryview]

MSG_LEADING_NOT_DIGIT = "leading netString character not a digit"
MSG_TOO_LONG = "netString length value greater than 999999999"
MSG_BAD_TYPE = "invalid netString type (not isprint())"
MSG_BAD_TERMINATOR = "incorrect netString terminator - comma or \\n expected"
MSG_UNEXPECTED_EOF = "unexpected EOF in packet"

_FIRST_BUFFER = 1 << 20  # initial in-place payload buffer; doubles up to the length

_LENGTH, _TYPE, _PAYLOAD, _TERMINATOR = range(4)


class ProtocolError(Exception):
    """Input that is not a valid packet. ``str(e)`` is the original's message."""


class NetStringError(ProtocolError):
    """A malformed netstring (bad length, type byte or terminator)."""


class PacketError(ProtocolError):
    """Well-formed netstrings that do not make a valid packet, or a truncated packet."""


class TruncatedPacketError(PacketError):
    """End of input inside a packet (``unexpected EOF in packet``)."""


class TooLargeError(ProtocolError):
    """A netstring's length prefix exceeds the parser's ``max_length``
    (``maximum-request-size``); raised as soon as the length is known, before
    any of the payload is read."""

    def __init__(self, length: int, limit: int, fields: Dict[int, bytes]) -> None:
        super().__init__("request data of %d bytes exceeds maximum-request-size %d" % (length, limit))
        self.length = length
        self.limit = limit
        #: The fields of the packet read before the oversize netstring.
        self.fields = fields


class PacketParser:
    """Parses packets whose first netstring has type ``want`` (``b"Q"`` or ``b"A"``)."""

    def __init__(self, want: bytes, max_length: int = MAX_LENGTH) -> None:
        self._want = want[0]
        #: The largest payload length accepted; a larger prefix raises :class:`TooLargeError`.
        self.max_length = max_length
        self.reset()

    def reset(self) -> None:
        """Discard any partial packet."""
        self._state = _LENGTH
        self._length = 0
        self._digits = 0
        self._type = 0
        self._first = False
        self._payload: Optional[bytearray] = None
        self._filled = 0
        self._fields: Dict[int, bytes] = {}
        #: True once any byte of the current packet has been consumed; EOF
        #: while this is False is a clean end of input.
        self.started = False

    def feed(self, buf: Buffer, pos: int = 0, end: Optional[int] = None) -> Tuple[int, bool]:
        """Consume ``buf[pos:end]``. Return ``(new_pos, done)``; when ``done`` the
        packet is complete (see :meth:`fields`) and bytes from ``new_pos`` on
        belong to the next packet. Raise :class:`ProtocolError` for bad input;
        the parser must then be :meth:`reset`."""
        if end is None:
            end = len(buf)
        if pos < end:
            self.started = True
        while pos < end:
            state = self._state
            if state == _LENGTH:
                c = buf[pos]
                if 0x30 <= c <= 0x39:
                    self._length = self._length * 10 + c - 0x30
                    self._digits += 1
                    if self._length > MAX_LENGTH:
                        raise NetStringError(MSG_TOO_LONG)
                    pos += 1
                elif self._digits == 0:
                    raise NetStringError(MSG_LEADING_NOT_DIGIT)
                else:
                    self._state = _TYPE
            elif state == _TYPE:
                c = buf[pos]
                # The size limit applies as soon as the prefix is complete,
                # before the type byte is checked (as every SDK).
                if self._length > self.max_length:
                    raise TooLargeError(self._length, self.max_length, dict(self._fields) if self._first else {})
                if c < 0x20 or c > 0x7E:
                    raise NetStringError(MSG_BAD_TYPE)
                self._type = c
                pos += 1
                self._filled = 0
                self._state = _PAYLOAD if self._length else _TERMINATOR
            elif state == _PAYLOAD:
                pos = self._copy_payload(buf, pos, end)
            else:
                if buf[pos] not in (0x2C, 0x0A):
                    raise NetStringError(MSG_BAD_TERMINATOR)
                pos += 1
                if self._end_netstring():
                    return pos, True
        return pos, False

    def _copy_payload(self, buf: Buffer, pos: int, end: int) -> int:
        need = self._length - self._filled
        if self._payload is None:
            if end - pos >= need:  # the whole payload is in this chunk
                self._small = bytes(buf[pos:pos + need])
                self._state = _TERMINATOR
                return pos + need
            self._payload = bytearray(min(self._length, _FIRST_BUFFER))
        k = min(need, end - pos)
        while k:
            room = self._room()
            n = min(k, len(room))
            room[:n] = buf[pos:pos + n]
            room.release()
            self._advance_payload(n)
            pos += n
            k -= n
        return pos

    def _room(self) -> memoryview:
        """The unfilled part of the payload buffer, doubled first when it is full."""
        p = self._payload
        assert p is not None
        if self._filled == len(p):
            p.extend(bytes(min(len(p), self._length - len(p))))
        return memoryview(p)[self._filled:]

    def _advance_payload(self, n: int) -> None:
        self._filled += n
        if self._filled == self._length:
            self._state = _TERMINATOR

    def direct(self) -> Optional[memoryview]:
        """While a large payload is being filled, the free part of its buffer:
        a reader may fill it in place and then call :meth:`advance`. Release the
        view before the next call. Otherwise None."""
        if self._state == _PAYLOAD and self._payload is not None:
            return self._room()
        return None

    def advance(self, n: int) -> None:
        """Record that ``n`` bytes were written into the view from :meth:`direct`."""
        self._advance_payload(n)

    def _end_netstring(self) -> bool:
        """Check and store the netstring just completed; True at the end of the packet."""
        t = self._type
        if self._length == 0:
            payload = b""
        elif self._payload is not None:
            payload = bytes(self._payload)
            self._payload = None
        else:
            payload = self._small
        self._state, self._length, self._digits = _LENGTH, 0, 0
        if not self._first:
            if t != self._want:
                raise PacketError("Unexpected netString type. Wanted: %s, but got: '%c' (%s)"
                                  % (packet_type_name(self._want), t, packet_type_name(t)))
            self._first = True
            self._fields = {}
            return False
        if t >= 123:
            raise PacketError("Out-of-range netString type: '%c'" % t)
        if t in self._fields:
            raise PacketError("Duplicate netString type of '%c'" % t)
        self._fields[t] = payload
        if t != T_END:
            return False
        self._first = False
        self.started = False
        return True

    def fields(self) -> Dict[int, bytes]:
        """Take the fields (type byte -> payload) of the packet just completed."""
        f, self._fields = self._fields, {}
        return f


def scan_packet(buf: bytes, head: bytes) -> Optional[Tuple[Dict[int, bytes], int]]:
    """Decode, in one pass, a packet that starts ``buf`` and is plainly valid.

    ``head`` is the packet's first netstring, ``b"0Q,"`` or ``b"0A,"``. Return
    the packet's fields (as :meth:`PacketParser.fields`) and the offset just
    after it. Return None when the packet is incomplete *or* anything about it
    is unusual (a bad netstring, a duplicate type, a length of ten digits or
    more...): the caller then runs :class:`PacketParser` over the same bytes,
    which reads on or raises the exact error. So this fast path never accepts
    a packet the streaming parser would reject, nor decodes one differently.
    """
    if not buf.startswith(head):
        return None
    fields: Dict[int, bytes] = {}
    pos = len(head)
    try:
        while True:
            j = pos
            while 0x30 <= buf[j] <= 0x39:
                j += 1
            t = buf[j]
            # No digit, a length over 9 digits, a type that is not printable or
            # above 'z', or a duplicate: leave it to the parser and its message.
            if j == pos or j - pos > 9 or t < 0x20 or t > T_END or t in fields:
                return None
            end = j + 1 + int(buf[pos:j])
            c = buf[end]
            if c != 0x2C and c != 0x0A:
                return None
            fields[t] = buf[j + 1:end]
            pos = end + 1
            if t == T_END:
                return fields, pos
    except IndexError:  # the packet goes on past the end of buf
        return None


def decode_one(data: bytes, want: bytes) -> Tuple[Dict[int, bytes], bytes]:
    """Decode one whole packet from ``data``; return its fields and the bytes after it.

    Raise :class:`ProtocolError`; :class:`TruncatedPacketError` when ``data``
    ends inside the packet.
    """
    p = PacketParser(want)
    pos, done = p.feed(data)
    if not done:
        raise TruncatedPacketError(MSG_UNEXPECTED_EOF)
    return p.fields(), bytes(data[pos:])
