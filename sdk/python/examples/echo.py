#!/usr/bin/env python3
"""The echo service, with the behaviour of the original's reference echo.

It echoes the request data. Context ``echo.sleepMS`` sleeps that many
milliseconds before replying (negative: fault 111 "sleep time negative"),
``echo.sleepAfter`` sleeps that many seconds after replying, ``echo.log``
writes its value to stderr; ``echo.die`` (any value, as ``plPing -k`` sends it)
exits at once with status 3, without a response. An optional argument is a CPU-burn loop count per
request; ``--loop`` uses the loop form instead of the handler form. Exit 42 if
initialization fails, 41 if the loop stopped with a fault, 3 for echo.die,
else 0.

Run it stand-alone with ``./echo.py 3<request 4>response``; it needs no
installation (it falls back to the SDK's src directory beside it).
"""

import os
import re
import sys
import time

try:
    import pluton
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), os.pardir, "src"))
    import pluton

STATS_EVERY = 10000


def atoi(value):
    """C's atoi: the leading integer of ``value``, 0 if there is none."""
    if not value:
        return 0
    m = re.match(r"\s*[-+]?\d+", value)
    return int(m.group()) if m else 0


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Echo:
    def __init__(self, burn):
        self.burn = burn
        self.requests = 0
        self.volume = 0

    def __call__(self, request):
        """The handler: answer one request."""
        self.requests += 1
        self.volume += request.size
        if self.requests % STATS_EVERY == 0:
            self.stats()
        if request.context("echo.die") is not None:  # plPing -k
            log("echo: echo.die: exiting without a response to request %d" % request.id)
            os._exit(3)
        message = request.context("echo.log")
        if message is not None:
            log(message)
        sleep_ms = atoi(request.context("echo.sleepMS"))
        if sleep_ms < 0:
            raise pluton.Fault(111, "sleep time negative")
        for _ in range(self.burn):
            pass
        if sleep_ms:
            time.sleep(sleep_ms / 1000.0)
        sleep_after = atoi(request.context("echo.sleepAfter"))
        if sleep_after <= 0:
            return request.view  # the data where it was read: answered without a copy
        request.respond(request.view)
        time.sleep(sleep_after)
        return None

    def stats(self):
        log("echo stats: Rq=%d MB=%d" % (self.requests, self.volume // 1000000))


def main(argv):
    args = argv[1:]
    loop_form = "--loop" in args
    args = [a for a in args if a != "--loop"]
    echo = Echo(atoi(args[0]) if args else 0)
    service = pluton.Service("echo")
    service.on_stop(echo.stats)
    try:
        service.initialize()
    except pluton.Fault as f:
        log(f.message("echo: initialize failed:"))
        return 42
    try:
        if loop_form:
            for request in service:
                try:
                    data = echo(request)
                except pluton.Fault as f:
                    request.fault(f.code, f.text)
                    continue
                if not request.answered:
                    request.respond(data or b"")
        else:
            service.serve(echo)
    except pluton.Fault as f:
        log(f.message("echo:"))
        return 41
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
