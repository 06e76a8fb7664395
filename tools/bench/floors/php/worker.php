<?php
/*
 * Bare PHP worker: the floor for the PHP SDK.
 *
 * Binds a Unix socket once, forks WORKERS children that accept one
 * connection at a time, read one request packet, write the echo response
 * packet and close; the same exchange as a Pluton service, without the SDK.
 *
 * It is a floor at every size: it uses the sockets extension (as the SDK
 * does), reads a first chunk, then the rest of a netstring whose length
 * prefix it has read with one socket_recv of that exact length
 * (MSG_WAITALL), and writes the response with one socket_write of the whole
 * packet.
 *
 * usage: php worker.php SOCKET WORKERS
 */

declare(strict_types=1);

const FIRST_READ = 65536;

/**
 * readRequest reads one request packet from $conn: [id, name, data] when it
 * is complete, or [id, name, data head, data tail with ",0z\n", length]
 * when the data was read in two parts; null when the peer closed or sent
 * something that is not a request packet.
 */
function readRequest(Socket $conn): ?array
{
    $buf = '';
    if (@socket_recv($conn, $buf, FIRST_READ, 0) < 1) {
        return null;
    }
    $len = strlen($buf);
    $i = 0;
    $first = true;
    $id = '0';
    $name = '';
    $data = '';
    for (;;) {
        $d = strspn($buf, '0123456789', $i);
        $j = $i + $d;
        if ($j >= $len) {
            // A length prefix split by the first read: a little more.
            $more = '';
            if (@socket_recv($conn, $more, FIRST_READ, 0) < 1) {
                return null;
            }
            $buf .= $more;
            $len = strlen($buf);
            continue;
        }
        if ($d === 0) {
            return null;
        }
        $n = (int) substr($buf, $i, $d);
        $t = $buf[$j];
        if ($first && $t !== 'Q') {
            return null;
        }
        $first = false;
        $start = $j + 1;
        $end = $start + $n + 1;
        if ($t === 'k' && $end > $len) {
            // The data: what the first read holds, then the rest with its
            // known length (and the 3 bytes of the end netstring that every
            // packet has after it) in one call.
            $want = $end - $len + 3;
            $rest = '';
            if (@socket_recv($conn, $rest, $want, MSG_WAITALL) !== $want) {
                return null;
            }
            if (substr_compare($rest, ",0z\n", -4) === 0) {
                // The usual ending: the response ends with the same four
                // bytes, so $rest is written as it is, without a copy.
                return [$id, $name, substr($buf, $start), $rest, $n];
            }
            $data = substr($buf, $start) . substr($rest, 0, $want - 4);
            if ($rest[$want - 4] !== ',' && $rest[$want - 4] !== "\n") {
                return null;
            }
            $buf = substr($rest, $want - 3);
            $len = 3;
            $i = 0;
            continue;
        }
        if ($end > $len) {
            $want = $end - $len + 3;
            $rest = '';
            if (@socket_recv($conn, $rest, $want, MSG_WAITALL) !== $want) {
                return null;
            }
            $buf .= $rest;
            $len = strlen($buf);
        }
        switch ($t) {
            case 'b': $id = substr($buf, $start, $n); break;
            case 'a': $name = substr($buf, $start, $n); break;
            case 'k': $data = substr($buf, $start, $n); break;
            case 'z': return [$id, $name, $data, '', strlen($data)];
        }
        $i = $end;
    }
}

/** writeAll writes every byte of $s; false when the peer has gone. */
function writeAll(Socket $conn, string $s): bool
{
    for ($off = 0, $total = strlen($s); $off < $total; $off += $w) {
        $w = @socket_write($conn, $off === 0 ? $s : substr($s, $off));
        if ($w === false || $w === 0) {
            return false;
        }
    }
    return true;
}

function serve(Socket $listener): void
{
    $sname = 'echo:' . getmypid() . '/0';
    $sfield = strlen($sname) . 's' . $sname . ',';
    for (;;) {
        $conn = @socket_accept($listener);
        if ($conn === false) {
            continue;
        }
        $got = readRequest($conn);
        if ($got !== null) {
            [$id, $name, $data, $tail, $n] = $got;
            $out = '0A,' . strlen($id) . 'b' . $id . ',';
            if ($name !== '') {
                $out .= strlen($name) . 'a' . $name . ',';
            }
            $out .= $sfield;
            if ($n === 0) {
                $out .= "0z\n";
            } elseif ($tail === '') {
                $out .= $n . 'q' . $data . ",0z\n";
            } else {
                $out .= $n . 'q' . $data;
            }
            if (writeAll($conn, $out) && $tail !== '') {
                writeAll($conn, $tail);
            }
        }
        socket_close($conn);
    }
}

[$path, $workers] = [$argv[1], (int) $argv[2]];
@unlink($path);
$listener = socket_create(AF_UNIX, SOCK_STREAM, 0);
if ($listener === false || !socket_bind($listener, $path) || !socket_listen($listener, 1024)) {
    fwrite(STDERR, 'worker.php: ' . socket_strerror(socket_last_error()) . "\n");
    exit(1);
}
pcntl_signal(SIGPIPE, SIG_IGN);
for ($k = 0; $k < $workers; $k++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        serve($listener);
        exit(0);
    }
}
while (pcntl_wait($status) > 0) {
}
