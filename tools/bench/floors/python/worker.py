"""Bare Python worker: the floor for the Python SDK.

Binds a Unix socket once, forks WORKERS children that accept one connection
at a time, read one request packet, write the echo response packet and
close; the same exchange as a Pluton service, without the SDK.

usage: worker.py SOCKET WORKERS
"""

import os
import signal
import socket
import sys


def scan(buf):
    """Scan a request packet: (id, name, data) when complete, None if more
    bytes are needed; raises ValueError when it is not a packet."""
    i, n_buf, first = 0, len(buf), True
    rid, name, data = b"0", b"", b""
    while True:
        j = i
        while j < n_buf and 48 <= buf[j] <= 57:
            j += 1
        if j >= n_buf:
            return None
        if j == i:
            raise ValueError("not a netstring")
        n = int(buf[i:j])
        t = buf[j]
        if first and t != 81:  # 'Q'
            raise ValueError("not a request")
        first = False
        start = j + 1
        if start + n + 1 > n_buf:
            return None
        if t == 98:  # 'b'
            rid = buf[start:start + n]
        elif t == 97:  # 'a'
            name = buf[start:start + n]
        elif t == 107:  # 'k'
            data = buf[start:start + n]
        elif t == 122:  # 'z'
            return rid, name, data
        i = start + n + 1


def serve(listener):
    sname = b"echo:%d/0" % os.getpid()
    sfield = b"%ds%s," % (len(sname), sname)
    while True:
        conn, _ = listener.accept()
        buf = bytearray()
        got = None
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            try:
                got = scan(buf)
            except ValueError:
                break
            if got is not None:
                break
        if got is not None:
            rid, name, data = got
            out = [b"0A,%db%s," % (len(rid), rid)]
            if name:
                out.append(b"%da%s," % (len(name), name))
            out.append(sfield)
            if data:
                out.append(b"%dq" % len(data))
                out.append(bytes(data))
                out.append(b",0z\n")
            else:
                out.append(b"0z\n")
            conn.sendall(b"".join(out))
        conn.close()


def main():
    path, workers = sys.argv[1], int(sys.argv[2])
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1024)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for _ in range(workers):
        if os.fork() == 0:
            try:
                serve(listener)
            finally:
                os._exit(0)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


if __name__ == "__main__":
    main()
