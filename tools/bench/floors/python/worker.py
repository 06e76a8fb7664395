"""Bare Python worker: the floor for the Python SDK.

Binds a Unix socket once, forks WORKERS children that accept one connection
at a time, read one request packet, write the echo response packet and
close; the same exchange as a Pluton service, without the SDK.

It is a floor at every size: the packet is read with recv_into into one
bytearray, grown once to the size a netstring's length prefix announces
(and kept for the next request), never by concatenation; the response is
written with one sendmsg of the head, a memoryview of the data and the
trailer.

usage: worker.py SOCKET WORKERS
"""

import os
import signal
import socket
import sys


def read_request(conn, buf):
    """Read one request packet into buf (a bytearray).

    Returns (buf, id, name, data_start, data_len), buf being a larger
    bytearray when the packet did not fit, or None when the peer closed or
    sent something that is not a request packet.
    """
    view = memoryview(buf)
    filled = 0
    i = 0
    first = True
    rid, name, ds, dl = b"0", b"", 0, 0
    while True:
        # The length prefix and the type byte.
        j = i
        while True:
            while j < filled and 48 <= buf[j] <= 57:
                j += 1
            if j < filled:
                break
            if filled == len(buf):
                view.release()
                buf = buf + bytes(len(buf))
                view = memoryview(buf)
            n = conn.recv_into(view[filled:])
            if n == 0:
                return None
            filled += n
        if j == i:
            return None
        n = int(buf[i:j])
        t = buf[j]
        if first and t != 81:  # 'Q'
            return None
        first = False
        start = j + 1
        end = start + n + 1  # payload and terminator
        if end > filled:
            # The rest of this netstring, with the known length: grown once
            # (room for the end netstring too), then filled in place.
            if end + 3 > len(buf):
                nb = bytearray(end + 64)
                nb[:filled] = view[:filled]
                view.release()
                buf = nb
                view = memoryview(buf)
            while filled < end:
                k = conn.recv_into(view[filled:])
                if k == 0:
                    return None
                filled += k
        if t == 98:  # 'b'
            rid = bytes(view[start:start + n])
        elif t == 97:  # 'a'
            name = bytes(view[start:start + n])
        elif t == 107:  # 'k'
            ds, dl = start, n
        elif t == 122:  # 'z'
            view.release()
            return buf, rid, name, ds, dl
        i = end


def send_all(conn, parts):
    """Write every part with sendmsg, going on after a short write."""
    total = sum(len(p) for p in parts)
    sent = conn.sendmsg(parts)
    if sent < total:
        rest = b"".join(bytes(p) for p in parts)[sent:]
        conn.sendall(rest)


def serve(listener):
    sname = b"echo:%d/0" % os.getpid()
    sfield = b"%ds%s," % (len(sname), sname)
    buf = bytearray(65536)
    while True:
        conn, _ = listener.accept()
        got = read_request(conn, buf)
        if got is not None:
            buf, rid, name, ds, dl = got
            head = b"0A,%db%s," % (len(rid), rid)
            if name:
                head += b"%da%s," % (len(name), name)
            head += sfield
            try:
                if dl:
                    with memoryview(buf) as view:
                        send_all(conn, [head + b"%dq" % dl, view[ds:ds + dl], b",0z\n"])
                else:
                    send_all(conn, [head + b"0z\n"])
            except OSError:
                pass
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
