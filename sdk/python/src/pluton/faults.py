"""Pluton fault codes and the :class:`Fault` exceptions.

Codes below zero are system faults raised by the libraries, 0 is no fault,
1 to 10 are reserved user faults with predefined meanings, and any other
positive code belongs to the service that sent it. The numbers, names and
descriptions are the original Pluton's (reference §6.5).
"""

from __future__ import annotations

import enum
import os
from typing import Dict, Tuple

from ._spec import FAULTS


class FaultCode(enum.IntEnum):
    """The fault codes of the original Pluton, with the same numbers."""

    NO_FAULT = 0
    DESERIALIZE_FAILED = 1
    UNKNOWN_FUNCTION = 2
    REQUEST_TOO_LARGE = 3
    REMOTE_CONNECT_FAILED = 4
    REMOTE_TRANSFER_FAILED = 5
    SERVICE_EXCEPTION = 6
    SERVICE_UNAVAILABLE = 7
    LAST_RESERVED_USER_FAULT = 10
    ALREADY_INITIALIZED = -1
    NOT_INITIALIZED = -2
    REQUEST_NOT_ADDED = -3
    REQUEST_ALREADY_ADDED = -4
    REQUEST_IN_PROGRESS = -5
    RESPONSE_IN_PROGRESS = -6
    UNIMPLEMENTED = -7
    BAD_REQUEST_LENGTH = -8
    NO_AFFINITY = -9
    NO_WAIT_NOT_ALLOWED = -10
    NEED_NO_RETRY = -11
    OPEN_SOCKET_FAILED = -15
    CONNECT_FAILED = -16
    SOCKET_WRITE_FAILED = -17
    SOCKET_READ_FAILED = -18
    SERVICE_TIMEOUT = -19
    INCOMPLETE_RESPONSE = -20
    RESPONSE_PACKET_FORMAT_ERROR = -21
    CONTEXT_FORMAT_ERROR = -22
    CONTEXT_RESERVED_NAMESPACE = -23
    SETSOCKOPT_FAILED = -24
    FCNTL_FAILED = -25
    SERVICE_NOT_FOUND = -30
    SERVICE_KEY_BAD = -31
    MAP_INITIALIZATION_FAILED = -32
    OPEN_FOR_MMAP_FAILED = -33
    LOOKUP_BUT_NO_MAP = -34
    PERSISTENT_REMAP_FLAG = -35
    EXCEEDED_RETRY_LIMIT = -43
    RETRY_NOT_ALLOWED = -44
    REMOTE_NOT_ALLOWED = -45
    WRITE_EVENT_FOR_WRONG_FD = -46
    READ_EVENT_FOR_WRONG_FD = -47
    WRITE_EVENT_WRONG_STATE = -48
    READ_EVENT_WRONG_STATE = -49
    OPEN_ACCEPT_SOCKET_FAILED = -51
    MMAP_INHERITED_SHM_FD_FAILED = -52
    GET_REQUEST_NOT_NEXT = -53
    ACCEPT_FAILED = -54
    NO_FAUX_STDIN = -55
    WRONG_NS_TYPE = -56
    REQUEST_DECODE_FAILED = -57
    REQUEST_NET_STRING_PARSE_ERROR = -58
    SEND_RESPONSE_NOT_NEXT = -59
    SEND_RAW_RESPONSE_NOT_NEXT = -60
    NET_STRING_TOO_LARGE = -61
    UNEXPECTED_EOF = -62
    BIND_FAILED = -63
    UNLINK_FAILED = -64
    LISTEN_FAILED = -65
    EMPTY_IDENTIFIER = -66
    POLL_INTERRUPTED = -67
    SHM_FSTAT_FAILED = -101
    SHM_MMAP_FAILED = -102
    SHM_VERSION_MIS_MATCH = -103
    SHM_THREAD_CONFIG_NOT_SERVICE = -104
    SHM_THREAD_SERVICE_NOT_CONFIG = -105
    SHM_PRE_WRITE_FAILED = -106
    SHM_IMPOSSIBLY_SMALL = -107
    SERIOUS_INTERNAL_OS_ERROR = -998
    SERIOUS_INTERNAL_ROUTING_ERROR = -999


#: code -> (original name, short English description), from the generated
#: table of spec/pluton.json (pluton/_spec.py).
_DESCRIPTIONS: Dict[int, Tuple[str, str]] = {code: (name, english) for code, name, english in FAULTS}


def fault_name(code: int) -> str:
    """Return the original symbolic name of ``code`` (``"serviceTimeout"``), or ``""``."""
    return _DESCRIPTIONS.get(code, ("", ""))[0]


def fault_english(code: int) -> str:
    """Return the short English description of ``code``, or ``""`` for a service code."""
    return _DESCRIPTIONS.get(code, ("", ""))[1]


class Fault(Exception):
    """A Pluton fault: a code, a text and, for system faults, an optional errno.

    Service faults carry the code and text the service sent; system faults
    (negative codes) are raised by this library.
    """

    def __init__(self, code: int, text: str = "", errno: int = 0) -> None:
        super().__init__(int(code), text)
        #: The fault code (a :class:`FaultCode` value or a service's own code).
        self.code: int = int(code)
        #: The fault text, e.g. ``"sleep time negative"`` or the key that was not found.
        self.text: str = text
        #: The ``errno`` of the failed system call, or 0.
        self.errno: int = errno

    @property
    def name(self) -> str:
        """The original symbolic name of the code (``"serviceNotFound"``), or ``""``."""
        return fault_name(self.code)

    @property
    def english(self) -> str:
        """The short description of the code, or ``""`` for a service-defined code."""
        return fault_english(self.code)

    @property
    def is_system(self) -> bool:
        """True if the fault was raised by a Pluton library rather than sent by a service."""
        return self.code < 0

    def message(self, pre: str = "", long_format: bool = True) -> str:
        """Format the fault as the original library did::

            [<pre> ]pluton::Fault=<code>[ (<name>:<english>)][ errno=<n>[:<strerror>]][ '<text>']

        The description and the ``strerror`` appear only in the long format.
        """
        parts = []
        if pre:
            parts.append(pre + " ")
        parts.append("pluton::Fault=%d" % self.code)
        if long_format and self.name:
            parts.append(" (%s:%s)" % (self.name, self.english))
        if self.errno > 0:
            parts.append(" errno=%d" % self.errno)
            if long_format:
                parts.append(":" + os.strerror(self.errno))
        if self.text:
            parts.append(" '%s'" % self.text)
        return "".join(parts)

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return "%s(%d, %r)" % (type(self).__name__, self.code, self.text)


class TimeoutFault(Fault):
    """The client gave up waiting: code ``SERVICE_TIMEOUT`` (-19)."""

    def __init__(self, text: str = "service timeout", errno: int = 0) -> None:
        super().__init__(FaultCode.SERVICE_TIMEOUT, text, errno)


class ServiceFault(Fault):
    """A fault that came back in a response packet: sent by the service (its
    own code and text, or 6 when its code raised) or, for code 7
    ``SERVICE_UNAVAILABLE``, by the manager on the service's behalf."""


    #: The responding instance, ``<name>:<pid>/0``.
    service_name: str = ""
