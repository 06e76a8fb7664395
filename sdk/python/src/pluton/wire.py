"""The packets of the wire protocol and their encoding (docs/protocol.md §1).

A packet is a run of netstrings ``<len><type><payload>,`` that starts with
``0Q,`` (request) or ``0A,`` (response) and ends with ``0z\\n``. The encoders
write the fields in the original's emission order and return the packet as
three parts, head, data and trailer, so that large data is written with one
``writev`` and never copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Tuple

#: The largest netstring payload length accepted.
MAX_LENGTH = 999_999_999

# Netstring type bytes (as ints, the way bytes index).
T_REQUEST = ord("Q")
T_RESPONSE = ord("A")
T_REQUEST_ID = ord("b")
T_CLIENT_NAME = ord("a")
T_SERVICE_KEY = ord("c")
T_TIMEOUT = ord("l")
T_NO_WAIT = ord("e")
T_NO_REMOTE = ord("f")
T_NO_RETRY = ord("g")
T_KEEP_AFFINITY = ord("h")
T_NEED_AFFINITY = ord("i")
T_CONTEXT = ord("j")
T_REQUEST_DATA = ord("k")
T_FILE_DESCRIPTOR = ord("m")
T_FAULT_CODE = ord("p")
T_FAULT_TEXT = ord("r")
T_RESPONSE_DATA = ord("q")
T_SERVICE_NAME = ord("s")
T_END = ord("z")
T_CONTEXT_KEY = ord("k")
T_CONTEXT_VALUE = ord("v")

END_PACKET = b"0z\n"

_PACKET_NAMES = {ord("L"): "remoteLoginPT", T_REQUEST: "requestPT",
                 ord("M"): "loginResponsePT", T_RESPONSE: "responsePT"}


def packet_type_name(t: int) -> str:
    """The original's name for a packet type byte, e.g. ``requestPT``, or ``?unknownPT?``."""
    return _PACKET_NAMES.get(t, "?unknownPT?")


@dataclass
class RequestPacket:
    """A request packet, decoded or to be encoded. Absent fields are empty/false/0."""

    request_id: int = 0
    client_name: bytes = b""
    service_key: bytes = b""
    timeout_ms: int = 0
    no_wait: bool = False
    no_remote: bool = False
    no_retry: bool = False
    keep_affinity: bool = False
    need_affinity: bool = False
    file_descriptor: bool = False
    context: bytes = b""
    data: bytes = b""


@dataclass
class ResponsePacket:
    """A response packet, decoded or to be encoded. ``fault_code`` 0 means no fault."""

    request_id: int = 0
    client_name: bytes = b""
    service_name: bytes = b""
    fault_code: int = 0
    fault_text: bytes = b""
    data: bytes = b""


def netstring(t: int, payload: bytes) -> bytes:
    """Encode one netstring of type ``t`` with the ``,`` terminator."""
    return b"%d%c%s," % (len(payload), t, payload)


def _number(t: int, value: int) -> bytes:
    digits = b"%d" % value
    return b"%d%c%s," % (len(digits), t, digits)


def _data_head(t: int, data: bytes) -> Tuple[bytes, bytes]:
    """The header of the data netstring and the packet trailer that follows the data."""
    if not data:
        return b"", END_PACKET
    return b"%d%c" % (len(data), t), b"," + END_PACKET


def request_parts(r: RequestPacket) -> Tuple[bytes, bytes, bytes]:
    """Encode ``r`` as (head, data, trailer) in the order
    ``Q b [a] c l [e] [f] [g] [h] [i] [j] [m] [k] z``."""
    out = [b"0Q,", _number(T_REQUEST_ID, r.request_id)]
    if r.client_name:
        out.append(netstring(T_CLIENT_NAME, r.client_name))
    out.append(netstring(T_SERVICE_KEY, r.service_key))
    out.append(_number(T_TIMEOUT, r.timeout_ms))
    for flag, t in ((r.no_wait, T_NO_WAIT), (r.no_remote, T_NO_REMOTE), (r.no_retry, T_NO_RETRY),
                    (r.keep_affinity, T_KEEP_AFFINITY), (r.need_affinity, T_NEED_AFFINITY)):
        if flag:
            out.append(b"0%c," % t)
    if r.context:
        out.append(netstring(T_CONTEXT, r.context))
    if r.file_descriptor:
        out.append(b"0%c," % T_FILE_DESCRIPTOR)
    head, trailer = _data_head(T_REQUEST_DATA, r.data)
    out.append(head)
    return b"".join(out), r.data, trailer


def response_parts(r: ResponsePacket) -> Tuple[bytes, bytes, bytes]:
    """Encode ``r`` as (head, data, trailer) in the order ``A b [a] [s] [p [r]] [q] z``."""
    out = [b"0A,", _number(T_REQUEST_ID, r.request_id)]
    if r.client_name:
        out.append(netstring(T_CLIENT_NAME, r.client_name))
    if r.service_name:
        out.append(netstring(T_SERVICE_NAME, r.service_name))
    if r.fault_code:
        out.append(_number(T_FAULT_CODE, r.fault_code))
        if r.fault_text:
            out.append(netstring(T_FAULT_TEXT, r.fault_text))
    head, trailer = _data_head(T_RESPONSE_DATA, r.data)
    out.append(head)
    return b"".join(out), r.data, trailer


def encode_request(r: RequestPacket) -> bytes:
    """The whole request packet as one bytes object."""
    return b"".join(request_parts(r))


def encode_response(r: ResponsePacket) -> bytes:
    """The whole response packet as one bytes object."""
    return b"".join(response_parts(r))


_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


def parse_number(b: bytes) -> int:
    """Read a decimal as C's ``strtol`` does: leading blanks, an optional sign,
    then digits up to the first non-digit; 0 when there are none. Saturates at
    the 64-bit range (``LONG_MAX``, ``LONG_MIN``) as strtol does."""
    s = b.lstrip(b" \t\n\r\v\f")
    neg = s[:1] == b"-"
    if s[:1] in (b"-", b"+"):
        s = s[1:]
    n = 0
    while n < len(s) and 0x30 <= s[n] <= 0x39:
        n += 1
    if n == 0:
        return 0
    v = int(s[:n])
    return max(-v, _INT64_MIN) if neg else min(v, _INT64_MAX)


def request_from_fields(f: Mapping[int, bytes]) -> RequestPacket:
    """Build a :class:`RequestPacket` from the fields of a decoded packet."""
    return RequestPacket(
        request_id=parse_number(f.get(T_REQUEST_ID, b"")),
        client_name=f.get(T_CLIENT_NAME, b""),
        service_key=f.get(T_SERVICE_KEY, b""),
        timeout_ms=parse_number(f.get(T_TIMEOUT, b"")),
        no_wait=T_NO_WAIT in f,
        no_remote=T_NO_REMOTE in f,
        no_retry=T_NO_RETRY in f,
        keep_affinity=T_KEEP_AFFINITY in f,
        need_affinity=T_NEED_AFFINITY in f,
        file_descriptor=T_FILE_DESCRIPTOR in f,
        context=f.get(T_CONTEXT, b""),
        data=f.get(T_REQUEST_DATA, b""),
    )


def response_from_fields(f: Mapping[int, bytes]) -> ResponsePacket:
    """Build a :class:`ResponsePacket` from the fields of a decoded packet."""
    return ResponsePacket(
        request_id=parse_number(f.get(T_REQUEST_ID, b"")),
        client_name=f.get(T_CLIENT_NAME, b""),
        service_name=f.get(T_SERVICE_NAME, b""),
        fault_code=parse_number(f.get(T_FAULT_CODE, b"")),
        fault_text=f.get(T_FAULT_TEXT, b""),
        data=f.get(T_RESPONSE_DATA, b""),
    )


# -- context -----------------------------------------------------------------

class ContextError(ValueError):
    """A malformed context payload; the message names what is wrong."""


def encode_context_pair(key: bytes, value: bytes) -> bytes:
    """One context pair ``<n>k<key>,<n>v<value>,`` (append pairs to build the payload)."""
    return netstring(T_CONTEXT_KEY, key) + netstring(T_CONTEXT_VALUE, value)


def parse_context(payload: bytes) -> Dict[bytes, bytes]:
    """Decode a context payload into a dict in which the last value of a key wins."""
    pairs: Dict[bytes, bytes] = {}
    pos = 0
    while pos < len(payload):
        key, pos = _context_netstring(payload, pos, T_CONTEXT_KEY)
        value, pos = _context_netstring(payload, pos, T_CONTEXT_VALUE)
        pairs[key] = value
    return pairs


def _context_netstring(b: bytes, pos: int, want: int) -> Tuple[bytes, int]:
    i, n = pos, 0
    while i < len(b) and 0x30 <= b[i] <= 0x39:
        n = n * 10 + b[i] - 0x30
        if n > MAX_LENGTH:
            raise ContextError("Service Error: Context netString length value greater than 999999999")
        i += 1
    if i == pos:
        raise ContextError("Service Error: Context leading netString character not a digit")
    if i == len(b):
        raise ContextError("Service Error: Context truncated")
    if b[i] != want:
        # The byte as it is (the original's char): a byte of 0x80 and above
        # becomes a surrogate that the fault text encodes back to that byte.
        raise ContextError("Service Error: Unexpected Context type. Wanted: '%c', but got: '%s'"
                           % (want, b[i:i + 1].decode("utf-8", "surrogateescape")))
    i += 1
    if len(b) - i < n + 1:
        raise ContextError("Service Error: Context truncated")
    if b[i + n] not in (0x2C, 0x0A):
        raise ContextError("Service Error: Context incorrect netString terminator - comma or \\n expected")
    return b[i:i + n], i + n + 1
