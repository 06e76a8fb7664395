"""Finding a service's socket (docs/protocol.md §7).

The lookup location is a lookup map file written by the manager, whose
``rendezvous <dir>`` line names the rendezvous directory, the original's
binary map (detected by content, :mod:`pluton.binmap`), or that directory
itself. A key resolves to ``<R>/<SK>.socket``, else to the wildcard
``<R>/<App>..<Ver>.<Ser>.socket``.
"""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from .binmap import HEADER_SIZE, BinaryMap, BinaryMapError, is_binary
from .faults import Fault, FaultCode
from .servicekey import ServiceKey

LOOKUP_MAP_ENV = "plutonLookupMap"
HOME_ENV = "plutonHome"
#: The home of a manager run by root, and the last place a client looks.
SYSTEM_HOME = "/usr/local/var/pluton"
DEFAULT_LOOKUP_MAP = SYSTEM_HOME + "/lookup.map"
LOOKUP_MAP_VERSION = 3001
_HEADER = "# pluton lookup map "


def pluton_home() -> str:
    """The home of docs/protocol.md §7.1: ``$plutonHome`` if set; else
    ``/usr/local/var/pluton`` for root; else ``$XDG_STATE_HOME/pluton``
    (default ``~/.local/state/pluton``)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return home
    if os.geteuid() == 0:
        return SYSTEM_HOME
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "pluton")


def lookup_candidates() -> List[str]:
    """The default lookup locations, in the order tried: ``<home>/lookup.map``,
    then ``/usr/local/var/pluton/lookup.map``."""
    out = [os.path.join(pluton_home(), "lookup.map")]
    if DEFAULT_LOOKUP_MAP not in out:
        out.append(DEFAULT_LOOKUP_MAP)
    return out


def lookup_location(explicit: Optional[str] = None) -> str:
    """The lookup location (§7.1): ``explicit`` if non-empty, else
    ``$plutonLookupMap`` if non-empty, else the first of
    :func:`lookup_candidates` that exists.

    Raises :class:`Fault` ``MAP_INITIALIZATION_FAILED`` naming every path
    tried when none exists.
    """
    given = explicit or os.environ.get(LOOKUP_MAP_ENV)
    if given:
        return given
    tried = lookup_candidates()
    for path in tried:
        if os.path.exists(path):
            return path
    raise Fault(FaultCode.MAP_INITIALIZATION_FAILED,
                "no lookup map at %s: is plutonManager running? Start it, or set %s or pass lookup="
                % (" or ".join(tried), LOOKUP_MAP_ENV))


def rendezvous_directory(location: str) -> str:
    """The rendezvous directory named by a lookup location. Raises :class:`Fault`."""
    if os.path.isdir(location):
        return location
    try:
        with open(location, "rb") as f:
            data = f.read(64 << 20)
    except OSError as e:
        raise Fault(FaultCode.OPEN_FOR_MMAP_FAILED, location, e.errno or 0) from None
    if is_binary(data):  # the original's binary map, detected by content
        if len(data) < HEADER_SIZE:
            raise Fault(FaultCode.SHM_IMPOSSIBLY_SMALL, "%s: %d bytes" % (location, len(data)))
        try:
            return BinaryMap(data).rendezvous()
        except BinaryMapError as e:
            raise Fault(FaultCode.MAP_INITIALIZATION_FAILED, "%s: binary lookup map: %s" % (location, e)) from None
    lines = data.decode("utf-8", "surrogateescape").splitlines()
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
