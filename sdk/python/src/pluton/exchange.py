"""What the blocking and the asyncio clients share: building a request packet,
connecting to a service's socket with the resend rule, and reading a
response into a result or a :class:`~pluton.Fault`.

The resend rule (docs/sdk.md rule 6): a request is sent again at most once,
and only when it provably was not read by a service, that is when the
connect failed (``ECONNREFUSED``, ``ENOENT``, ``EAGAIN``). Once a byte of the
request was written, a connection that closes before a complete response is
fault -20 and is not resent.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Dict, List, Mapping, Optional, Tuple, Union

from .faults import Fault, FaultCode, ServiceFault
from .lookup import socket_paths
from .servicekey import ServiceKey, ServiceKeyError
from .wire import RequestPacket, encode_context_pair, request_parts, response_from_fields

#: Context keys with this prefix belong to Pluton itself.
RESERVED_CONTEXT_PREFIX = "pluton."
#: Request ids start here and wrap back here after :data:`LAST_REQUEST_ID`.
FIRST_REQUEST_ID = 100
LAST_REQUEST_ID = 10_000_000

Data = Union[bytes, bytearray, memoryview, str]
ContextValue = Union[str, bytes]

#: The remote gateway's socket in the rendezvous directory (docs/remote.md):
#: a manager started with ``-N`` relays there the requests for keys that no
#: local socket serves to the hosts that serve them on NATS.
GATEWAY_SOCKET = "plutonRemote.socket"

CLOSED_WITHOUT_RESPONSE = ("the service instance closed the connection without a response: "
                           "it may have died while serving this request")
_CONNECT_RETRY = (errno.ECONNREFUSED, errno.ENOENT, errno.EAGAIN)


def to_bytes(v: Data) -> bytes:
    """Text as UTF-8, bytes-like as bytes."""
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)


def encode_context(context: Optional[Mapping[str, ContextValue]]) -> bytes:
    """The ``j`` payload of ``context``. Raises :class:`Fault`
    ``CONTEXT_RESERVED_NAMESPACE`` for keys starting ``pluton.``."""
    if not context:
        return b""
    out = []
    for k, v in context.items():
        if k.startswith(RESERVED_CONTEXT_PREFIX):
            raise Fault(FaultCode.CONTEXT_RESERVED_NAMESPACE,
                        "context key %r uses the reserved prefix '%s'" % (k, RESERVED_CONTEXT_PREFIX))
        out.append(encode_context_pair(to_bytes(k), to_bytes(v)))
    return b"".join(out)


def timeout_ms(timeout: Optional[float]) -> int:
    """A timeout in seconds (None or 0 = no limit) as the ``l`` field's milliseconds."""
    if not timeout or timeout <= 0:
        return 0
    return max(1, int(round(timeout * 1000)))


def parse_key(key: str) -> ServiceKey:
    """Raise :class:`Fault` ``SERVICE_KEY_BAD`` naming what is wrong."""
    try:
        return ServiceKey.parse(key)
    except ServiceKeyError as e:
        raise Fault(FaultCode.SERVICE_KEY_BAD, "%s: %s" % (key, e.reason)) from None


def build_packet(request_id: int, client_name: bytes, key: str, data: Data, context: bytes,
                 timeout: Optional[float], no_wait: bool, no_remote: bool, no_retry: bool) -> List[bytes]:
    """The request packet as (head, data, trailer)."""
    return list(request_parts(RequestPacket(
        request_id=request_id, client_name=client_name, service_key=key.encode("utf-8", "surrogateescape"),
        timeout_ms=timeout_ms(timeout), no_wait=no_wait, no_remote=no_remote, no_retry=no_retry,
        context=context, data=to_bytes(data))))


def connect_gateway(rendezvous: str) -> Tuple[str, Optional[socket.socket], int]:
    """Connect (non-blocking) to the remote gateway's socket. Returns its path,
    the socket, or None and the connect's errno (``ENOENT``: the local manager
    was not started with ``-N``). A refused connect is tried again once (the
    resend rule)."""
    path = os.path.join(rendezvous, GATEWAY_SOCKET)
    err = 0
    for _attempt in range(2):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex(path)
        if err in (0, errno.EINPROGRESS):
            return path, sock, 0
        sock.close()
        if err not in (errno.ECONNREFUSED, errno.EAGAIN):
            break
    return path, None, err


def gateway_missing(path: str, err: int) -> str:
    """Why the remote gateway at ``path`` could not be used."""
    if err == errno.ENOENT:
        return "no remote gateway %s (the local manager was not started with -N)" % path
    return "remote gateway %s: %s" % (path, os.strerror(err))


def connect(rendezvous: str, key: ServiceKey, remote: bool = False) -> Tuple[str, socket.socket]:
    """Connect (non-blocking) to the socket of ``key``: the exact name, else the
    wildcard. A failed connect is tried again once (the resend rule). With
    ``remote``, when neither socket exists, connect to the remote gateway
    instead (the same request packet goes there, docs/remote.md).

    Raises :class:`Fault` ``SERVICE_NOT_FOUND`` when neither socket exists
    (and, with ``remote``, no gateway takes the connection; the text names
    the gateway only when it exists but refuses),
    ``CONNECT_FAILED`` when one exists but refuses the connection.
    """
    paths = socket_paths(rendezvous, key)
    refused: Optional[Tuple[str, int]] = None
    for _attempt in range(2):
        refused = None
        for path in paths:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(path)
            if err in (0, errno.EINPROGRESS):
                return path, sock
            sock.close()
            if err == errno.ENOENT:
                continue  # the wildcard next
            if err not in _CONNECT_RETRY:
                raise Fault(FaultCode.CONNECT_FAILED, "%s: %s" % (path, os.strerror(err)), err)
            refused = (path, err)
            break
        if refused is None:
            if remote:
                gw, gw_sock, err = connect_gateway(rendezvous)
                if gw_sock is not None:
                    return gw, gw_sock
                if err != errno.ENOENT:  # a gateway that is there but refuses
                    raise Fault(FaultCode.SERVICE_NOT_FOUND, "%s: no socket %s or %s, and %s"
                                % (key, paths[0], paths[1], gateway_missing(gw, err)))
            raise Fault(FaultCode.SERVICE_NOT_FOUND, "%s: no socket %s or %s" % (key, paths[0], paths[1]))
    assert refused is not None
    path, err = refused
    raise Fault(FaultCode.CONNECT_FAILED, "%s: %s" % (path, os.strerror(err)), err)


def interpret(fields: Dict[int, bytes], request_id: int, client_name: bytes) -> Tuple[bytes, str]:
    """The response data and the responding instance; raises the fault it carries
    (:class:`ServiceFault`), or ``RESPONSE_PACKET_FORMAT_ERROR`` for a response
    to another request."""
    resp = response_from_fields(fields)
    if resp.request_id != request_id or resp.client_name != client_name:
        raise Fault(FaultCode.RESPONSE_PACKET_FORMAT_ERROR,
                    "response for request %d of %r, want %d of %r"
                    % (resp.request_id, resp.client_name, request_id, client_name))
    name = resp.service_name.decode("utf-8", "surrogateescape")
    if resp.fault_code:
        f = ServiceFault(resp.fault_code, resp.fault_text.decode("utf-8", "surrogateescape"))
        f.service_name = name
        raise f
    return resp.data, name


class IdSource:
    """Request ids 100 .. 10,000,000, wrapping."""

    def __init__(self) -> None:
        self._next = FIRST_REQUEST_ID

    def take(self) -> int:
        rid = self._next
        self._next = rid + 1 if rid < LAST_REQUEST_ID else FIRST_REQUEST_ID
        return rid
