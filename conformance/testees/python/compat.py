#!/usr/bin/env python3
"""The Python SDK's compat testee for the conformance suite (conformance/README.md).

The same behaviour as testee.py, written against the original Pluton API
(initialize, get_request, send_response, send_fault, terminate and the
getters) through pluton.compat, loaded from the SDK's source tree.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "sdk", "python", "src"))

import pluton  # noqa: E402
from pluton.compat import Service  # noqa: E402


class _ContextFaulted(Exception):
    """The context was malformed; the request has been answered with fault 22."""


def context(svc, key):
    """A context value (bytes) or None; a malformed context faults the request with 22."""
    try:
        return svc.get_context_bytes(key)
    except pluton.Fault as f:
        if f.code != pluton.FaultCode.CONTEXT_FORMAT_ERROR:
            raise
        svc.send_fault(22, f.text)
        raise _ContextFaulted() from None


def atoi(b):
    """strconv.Atoi with errors ignored: an optional sign and digits, saturated
    at the 64-bit range, else 0."""
    if b is None or not re.fullmatch(rb"[+-]?[0-9]+", b):
        return 0
    return max(min(int(b), (1 << 63) - 1), -(1 << 63))


def answer(svc, served):
    fn = svc.function
    if fn == "echo":
        svc.send_response(svc.request_data)
    elif fn == "sleep":
        ms = context(svc, "sleep.ms")
        time.sleep(max(atoi(ms), 0) / 1000.0)
        svc.send_response(svc.request_data)
    elif fn == "fault":
        code = context(svc, "fault.code")
        text = context(svc, "fault.text") or b""
        svc.send_fault(atoi(code), text.decode("utf-8", "surrogateescape"))
    elif fn == "context":
        out = []
        for k in svc.request_data.rstrip(b"\n").split(b"\n"):
            v = context(svc, k)
            out.append(k + b"=" + v + b"\n" if v is not None else k + b"!\n")
        svc.send_response(b"".join(out))
    elif fn == "key":
        svc.send_response("%s\n%s\n%d\n%s\n%s" % (svc.application, svc.function, svc.version,
                                                 svc.serialization, svc.service_key))
    elif fn == "client":
        svc.send_response(svc.client_name)
    elif fn == "flags":
        svc.send_response("noWait=%d keepAffinity=%d" % (int(bool(svc.no_wait)), int(bool(svc.keep_affinity))))
    elif fn == "pid":
        svc.send_response("%d:%d" % (os.getpid(), served))
    elif fn == "exit":
        try:
            code = context(svc, "exit.code")
        except _ContextFaulted:  # as the Go testee: the fault is sent, then exit 0
            code = None
        os._exit(atoi(code))
    else:
        svc.send_fault(2, "unknown function " + fn)


def main():
    svc = Service("testee")
    try:
        svc.initialize()
    except pluton.Fault as f:
        sys.stderr.write("testee: %s\n" % f)
        return 1
    served = 0
    while svc.get_request():
        served += 1
        try:
            answer(svc, served)
        except _ContextFaulted:
            pass
    fault = svc.fault
    svc.terminate()
    if fault is not None:
        sys.stderr.write("testee: %s\n" % fault)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
