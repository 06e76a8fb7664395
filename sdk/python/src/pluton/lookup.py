"""Finding a service's socket (docs/protocol.md §7).

The lookup location is a lookup map file written by the manager, whose
``rendezvous <dir>`` line names the rendezvous directory, or that directory
itself. A key resolves to ``<R>/<SK>.socket``, else to the wildcard
``<R>/<App>..<Ver>.<Ser>.socket``.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

from .faults import Fault, FaultCode
from .servicekey import ServiceKey

LOOKUP_MAP_ENV = "plutonLookupMap"
DEFAULT_LOOKUP_MAP = "/usr/local/var/pluton/lookup.map"
LOOKUP_MAP_VERSION = 3001
_HEADER = "# pluton lookup map "


def lookup_location(explicit: Optional[str] = None) -> str:
    """The argument if non-empty, else ``$plutonLookupMap`` if non-empty, else the default."""
    return explicit or os.environ.get(LOOKUP_MAP_ENV) or DEFAULT_LOOKUP_MAP


def rendezvous_directory(location: str) -> str:
    """The rendezvous directory named by a lookup location. Raises :class:`Fault`."""
    if os.path.isdir(location):
        return location
    try:
        with open(location, "r", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise Fault(FaultCode.OPEN_FOR_MMAP_FAILED, location, e.errno or 0) from None
    if lines and lines[0].startswith(_HEADER):
        version = lines[0][len(_HEADER):].strip()
        if version != str(LOOKUP_MAP_VERSION):
            raise Fault(FaultCode.SHM_VERSION_MIS_MATCH,
                        "%s: lookup map version %s, want %d" % (location, version, LOOKUP_MAP_VERSION))
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "rendezvous" and rest.strip():
            return rest.strip()
    raise Fault(FaultCode.MAP_INITIALIZATION_FAILED, "%s: no rendezvous line" % location)


def socket_paths(rendezvous: str, key: ServiceKey) -> Tuple[str, str]:
    """The exact and the wildcard socket path of ``key``, in the order to try them."""
    return (os.path.join(rendezvous, "%s.socket" % key),
            os.path.join(rendezvous, "%s.socket" % key.wildcard()))
