"""The original Pluton service API, as a thin layer over :class:`pluton.Service`.

Deprecated: for services written against the original API (and the first
Python SDK of this project). New code uses ``for request in service`` or
``service.serve(handler)``::

    from pluton.compat import Service

    service = Service("echo")
    service.initialize()
    while service.get_request():
        service.send_response(service.request_data)
    service.terminate()
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Union

from .faults import Fault, FaultCode
from .request import Data, Request
from .service import Service as _Service
from .wire import T_TIMEOUT, parse_number

__all__ = ["Service"]


class Service:
    """The original API: one current request, read through getters, answered
    with :meth:`send_response` or :meth:`send_fault`.

    A request left unanswered when :meth:`get_request` is called again is
    answered with fault 6, as in the native API.
    """

    def __init__(self, name: str = "") -> None:
        self._svc = _Service(name)
        self._request: Optional[Request] = None
        self._ended = False

    @property
    def service(self) -> _Service:
        """The native service underneath."""
        return self._svc

    @property
    def mode(self) -> Optional[str]:
        """``"manager"``, ``"accept"`` or ``"standalone"``; None before :meth:`initialize`."""
        return self._svc.mode

    @property
    def fault(self) -> Optional[Fault]:
        """Why :meth:`get_request` returned False, or why a send failed; else None."""
        return self._svc.fault

    @property
    def has_fault(self) -> bool:
        """True if :attr:`fault` is set."""
        return self._svc.fault is not None

    def initialize(self) -> None:
        """Pick the mode; raises :class:`Fault` (see :meth:`pluton.Service.initialize`)."""
        self._svc.initialize()

    def get_request(self) -> bool:
        """Wait for the next request; False when the loop has ended (the stop
        signal, the request limit, the end of input, or an error in :attr:`fault`)."""
        if self._ended:
            return False
        self._request = self._svc._next()
        if self._request is None:
            self._ended = True
            self._svc._end_loop()
            return False
        return True

    def __iter__(self) -> Iterator["Service"]:
        """Yields the service itself once per request (the original iteration)."""
        while self.get_request():
            yield self

    def _current(self) -> Request:
        if self._request is None:
            raise Fault(FaultCode.SEND_RESPONSE_NOT_NEXT, "no request is waiting for a response")
        return self._request

    def send_response(self, data: Data = b"") -> bool:
        """Answer with ``data``; False if the write failed (:attr:`fault` says why)."""
        self._current().respond(data)
        return not self.has_fault

    def send_fault(self, code: int, text: str = "") -> bool:
        """Answer with a fault; False if the write failed."""
        self._current().fault(code, text)
        return not self.has_fault

    def terminate(self) -> None:
        """End the service (see :meth:`pluton.Service.close`)."""
        self._svc.close()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.terminate()

    # -- the current request's getters ----------------------------------------

    @property
    def request_data(self) -> bytes:
        """The request data."""
        return self._request.data if self._request is not None else b""

    @property
    def service_key(self) -> str:
        """The key as the client wrote it."""
        return str(self._request.key) if self._request is not None else ""

    @property
    def application(self) -> str:
        return self._request.key.application if self._request is not None else ""

    @property
    def function(self) -> str:
        return self._request.key.function if self._request is not None else ""

    @property
    def version(self) -> int:
        return self._request.key.version if self._request is not None else 0

    @property
    def serialization(self) -> str:
        return self._request.key.serialization if self._request is not None else ""

    @property
    def client_name(self) -> str:
        return self._request.client_name if self._request is not None else ""

    @property
    def request_id(self) -> int:
        return self._request.id if self._request is not None else 0

    @property
    def timeout_ms(self) -> int:
        """The client's timeout in milliseconds, as it sent it."""
        return parse_number(self._request._fields.get(T_TIMEOUT, b"")) if self._request is not None else 0

    @property
    def no_wait(self) -> bool:
        return self._request is not None and self._request.no_wait

    @property
    def no_remote(self) -> bool:
        return self._request is not None and self._request.no_remote

    @property
    def no_retry(self) -> bool:
        return self._request is not None and self._request.no_retry

    @property
    def keep_affinity(self) -> bool:
        return self._request is not None and self._request.keep_affinity

    @property
    def need_affinity(self) -> bool:
        return self._request is not None and self._request.need_affinity

    def get_context(self, key: Union[str, bytes]) -> Optional[str]:
        """A context value as text, or None; raises :class:`Fault` ``CONTEXT_FORMAT_ERROR``."""
        return self._request.context(key) if self._request is not None else None

    def get_context_bytes(self, key: Union[str, bytes]) -> Optional[bytes]:
        """A context value as bytes, or None; raises :class:`Fault` ``CONTEXT_FORMAT_ERROR``."""
        return self._request.context_bytes(key) if self._request is not None else None
