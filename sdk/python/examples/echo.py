#!/usr/bin/env python3
"""The echo service, with the behaviour of the original's reference echo.

It echoes the request data. Context ``echo.sleepMS`` sleeps that many
milliseconds before replying (negative: fault 111 "sleep time negative"),
``echo.sleepAfter`` sleeps that many seconds after replying, ``echo.log``
writes its value to stderr. An optional argument is a CPU-burn loop count per
request. Exit 42 if initialize fails, 41 if the loop stopped with a fault,
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


def handle(service, burn):
    """Answer the current request."""
    message = service.get_context("echo.log")
    if message is not None:
        log(message)
    sleep_ms = atoi(service.get_context("echo.sleepMS"))
    if sleep_ms < 0:
        service.send_fault(111, "sleep time negative")
        return
    for _ in range(burn):
        pass
    if sleep_ms:
        time.sleep(sleep_ms / 1000.0)
    service.send_response(service.request_data)
    sleep_after = atoi(service.get_context("echo.sleepAfter"))
    if sleep_after > 0:
        time.sleep(sleep_after)


def main(argv):
    burn = atoi(argv[1]) if len(argv) > 1 else 0
    service = pluton.Service("echo")
    try:
        service.initialize()
    except pluton.Fault as f:
        log(f.message("echo: initialize failed:"))
        return 42
    requests = volume = 0
    for _ in service:
        requests += 1
        volume += len(service.request_data)
        try:
            handle(service, burn)
        except pluton.Fault as f:  # a malformed context
            service.send_fault(f.code, f.text)
        if requests % STATS_EVERY == 0:
            log("echo stats: Rq=%d MB=%d" % (requests, volume // 1000000))
    log("echo stats: Rq=%d MB=%d" % (requests, volume // 1000000))
    failed = service.has_fault
    service.terminate()
    if failed:
        log(service.fault.message("echo:"))
        return 41
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
