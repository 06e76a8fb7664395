"""Pluton for Go: the Python SDK.

Write services with :class:`Service` and call them with :class:`Client`.
The wire protocol, the stats segment and the report records are described in
docs/protocol.md of the Pluton for Go repository.
"""

from ._version import __version__
from .client import Client
from .faults import Fault, FaultCode
from .request import Request
from .servicekey import ServiceKey, ServiceKeyError
from .service import Service
from .stats import ExitReason

__all__ = [
    "Client",
    "ExitReason",
    "Fault",
    "FaultCode",
    "Request",
    "Service",
    "ServiceKey",
    "ServiceKeyError",
    "__version__",
]
