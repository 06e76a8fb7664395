"""A client request and its outcome."""

from __future__ import annotations

import socket
from typing import Any, List, Mapping, Optional, Union

from .faults import Fault, FaultCode
from .wire import encode_context_pair

#: Context keys with this prefix belong to Pluton itself.
RESERVED_CONTEXT_PREFIX = "pluton."

Data = Union[bytes, bytearray, memoryview, str]
ContextValue = Union[str, bytes]


def _bytes(v: Data) -> bytes:
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)


class Request:
    """One request to a service; after :meth:`Client.execute` it holds the outcome.

    Attributes persist until changed, so a request object can be executed
    again (with ``keep_affinity`` it then reuses its connection).

    :param service_key: ``Application.Function.Version.Serialization``.
    :param data: the request bytes (str is sent as UTF-8).
    :param context: key/value pairs for the service (see :meth:`set_context`).
    :param timeout_ms: this request's deadline from the start of the execution;
        None takes the client's, 0 waits without limit.
    :param handle: anything the caller wants to keep with the request.
    """

    def __init__(self, service_key: str, data: Data = b"", *,
                 context: Optional[Mapping[str, ContextValue]] = None,
                 no_wait: bool = False, no_remote: bool = False, no_retry: bool = False,
                 keep_affinity: bool = False, need_affinity: bool = False,
                 timeout_ms: Optional[int] = None, handle: Any = None) -> None:
        self.service_key = service_key
        self.data = data
        self.no_wait = no_wait
        self.no_remote = no_remote
        self.no_retry = no_retry
        self.keep_affinity = keep_affinity
        self.need_affinity = need_affinity
        self.timeout_ms = timeout_ms
        self.handle = handle
        self._context: List[bytes] = []
        for k, v in (context or {}).items():
            self.set_context(k, v)
        #: The fault of the last execution, or None if it succeeded.
        self.fault: Optional[Fault] = Fault(FaultCode.REQUEST_NOT_ADDED)
        #: The response bytes of the last execution (empty on a fault).
        self.response_data = b""
        #: The responding instance, ``<name>:<pid>/0``.
        self.service_name = ""
        self._in_progress = False
        self._affinity_socket: Optional[socket.socket] = None

    def set_context(self, key: str, value: ContextValue) -> None:
        """Pass ``key=value`` to the service (a key set twice: the last value wins).
        Raises :class:`Fault` ``CONTEXT_RESERVED_NAMESPACE`` for keys starting ``pluton.``."""
        if key.startswith(RESERVED_CONTEXT_PREFIX):
            raise Fault(FaultCode.CONTEXT_RESERVED_NAMESPACE,
                        "Context Key uses reserved prefix of '%s'" % RESERVED_CONTEXT_PREFIX)
        self._context.append(encode_context_pair(_bytes(key), _bytes(value)))

    def clear_context(self) -> None:
        """Remove every context pair."""
        self._context = []

    @property
    def context_payload(self) -> bytes:
        """The encoded context (the ``j`` netstring's payload)."""
        return b"".join(self._context)

    @property
    def in_progress(self) -> bool:
        """True while an execution of this request is under way."""
        return self._in_progress

    @property
    def done(self) -> bool:
        """True once an execution has completed, successfully or not."""
        return not self._in_progress and not (self.fault and self.fault.code == FaultCode.REQUEST_NOT_ADDED)

    @property
    def has_fault(self) -> bool:
        """True if the last execution failed (or the request was never executed)."""
        return self.fault is not None

    @property
    def has_affinity(self) -> bool:
        """True while a ``keep_affinity`` connection to the service is open."""
        return self._affinity_socket is not None

    def result(self) -> bytes:
        """The response bytes; raises :attr:`fault` if there is one."""
        if self.fault is not None:
            raise self.fault
        return self.response_data

    def close(self) -> None:
        """Close the affinity connection, if any."""
        if self._affinity_socket is not None:
            self._affinity_socket.close()
            self._affinity_socket = None

    def __repr__(self) -> str:
        return "Request(%r, fault=%r)" % (self.service_key, self.fault)
