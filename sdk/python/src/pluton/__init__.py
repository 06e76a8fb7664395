"""Pluton for Go: the Python SDK.

Write services with :class:`Service` (``for request in service`` or
``service.serve(handler)``) and call them with :class:`Client` (or
:class:`pluton.aio.Client` under asyncio). Errors are :class:`Fault`
exceptions. The byte formats are described in docs/protocol.md of the Pluton
for Go repository; the model shared by every SDK in docs/sdk.md.
"""

from ._version import __version__
from . import coord  # noqa: F401  pluton.coord: coordination between instances (docs/coordination.md)
from .client import Call, Client
from .faults import Fault, FaultCode, ServiceFault, TimeoutFault
from .request import Request
from .service import Service
from .servicekey import ServiceKey, ServiceKeyError
from .stats import ExitReason

__all__ = [
    "Call",
    "Client",
    "ExitReason",
    "Fault",
    "FaultCode",
    "Request",
    "Service",
    "ServiceFault",
    "ServiceKey",
    "ServiceKeyError",
    "TimeoutFault",
    "__version__",
]
