#!/usr/bin/env python3
"""The Python SDK's client driver for the conformance suite (conformance/README.md):

    client.py <lookup> <key> [-C key=value]... [-w] < data

Sends one request with pluton.Client (-w: noWait), writes the response data
to stdout and exits 0, or writes "FAULT <code> <text>" to stderr and exits 1.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "sdk", "python", "src"))

import pluton  # noqa: E402

USAGE = "usage: client.py <lookup> <key> [-C key=value]... [-w] < data\n"


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(USAGE)
        return 2
    lookup, key = argv[0], argv[1]
    context = {}
    no_wait = False
    args = argv[2:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-w":
            no_wait = True
        elif a == "-C" and i + 1 < len(args):
            i += 1
            k, sep, v = args[i].partition("=")
            if not sep:
                sys.stderr.write("client.py: -C needs key=value\n" + USAGE)
                return 2
            context[k] = v
        elif a.startswith("-C") and len(a) > 2:
            k, sep, v = a[2:].partition("=")
            if not sep:
                sys.stderr.write("client.py: -C needs key=value\n" + USAGE)
                return 2
            context[k] = v
        else:
            sys.stderr.write("client.py: unexpected argument %r\n" % a + USAGE)
            return 2
        i += 1
    data = sys.stdin.buffer.read()
    try:
        with pluton.Client("pythonClient", lookup=lookup) as client:
            response = client.call(key, data, context=context, no_wait=no_wait)
    except pluton.Fault as f:
        sys.stderr.write("FAULT %d %s\n" % (f.code, f.text))
        return 1
    sys.stdout.buffer.write(response)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
