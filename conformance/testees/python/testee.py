#!/usr/bin/env python3
"""The Python SDK's testee for the conformance suite (conformance/README.md).

A service named "testee" that answers by the function of the request's key,
exactly as go/cmd/conformanceTestee does. It uses only the public API of the
SDK in sdk/python/src, loaded from the source tree: the handler form,
``pluton.Service("testee").serve(answer)``.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "sdk", "python", "src"))

import pluton  # noqa: E402

served = 0


def context(request, key):
    """A context value (bytes) or None; a malformed context faults the request with 22."""
    try:
        return request.context_bytes(key)
    except pluton.Fault as f:
        if f.code != pluton.FaultCode.CONTEXT_FORMAT_ERROR:
            raise
        raise pluton.Fault(22, f.text) from None


def atoi(b):
    """strconv.Atoi with errors ignored: an optional sign and digits, saturated
    at the 64-bit range, else 0."""
    if b is None or not re.fullmatch(rb"[+-]?[0-9]+", b):
        return 0
    return max(min(int(b), (1 << 63) - 1), -(1 << 63))


def answer(request):
    global served
    served += 1
    key = request.key
    fn = key.function
    if fn == "echo":
        return request.data
    if fn == "sleep":
        ms = context(request, "sleep.ms")
        time.sleep(max(atoi(ms), 0) / 1000.0)
        return request.data
    if fn == "fault":
        code = context(request, "fault.code")
        text = context(request, "fault.text") or b""
        raise pluton.Fault(atoi(code), text.decode("utf-8", "surrogateescape"))
    if fn == "context":
        out = []
        for k in request.data.rstrip(b"\n").split(b"\n"):
            v = context(request, k)
            out.append(k + b"=" + v + b"\n" if v is not None else k + b"!\n")
        return b"".join(out)
    if fn == "key":
        return "%s\n%s\n%d\n%s\n%s" % (key.application, key.function, key.version, key.serialization, key)
    if fn == "client":
        return request.client_name
    if fn == "flags":
        return "noWait=%d keepAffinity=%d" % (int(request.no_wait), int(request.keep_affinity))
    if fn == "pid":
        return "%d:%d" % (os.getpid(), served)
    if fn == "exit":
        try:
            code = context(request, "exit.code")
        except pluton.Fault as f:  # as the Go testee: the fault is sent, then exit 0
            request.fault(f.code, f.text)
            code = None
        os._exit(atoi(code))
    raise pluton.Fault(2, "unknown function " + fn)


def main():
    try:
        pluton.Service("testee").serve(answer)
    except pluton.Fault as f:
        sys.stderr.write("testee: %s\n" % f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
