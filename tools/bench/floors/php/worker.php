<?php
/*
 * Bare PHP worker: the floor for the PHP SDK.
 *
 * Binds a Unix socket once, forks WORKERS children that accept one
 * connection at a time, read one request packet, write the echo response
 * packet and close; the same exchange as a Pluton service, without the SDK.
 *
 * usage: php worker.php SOCKET WORKERS
 */

declare(strict_types=1);

/** scan returns [id, name, data] when the packet is complete, null if more bytes are needed, false if it is not a packet. */
function scan(string $buf): array|null|false
{
    $i = 0;
    $len = strlen($buf);
    $first = true;
    $id = '0';
    $name = '';
    $data = '';
    for (;;) {
        $d = strspn($buf, '0123456789', $i);
        $j = $i + $d;
        if ($j >= $len) {
            return null;
        }
        if ($d === 0) {
            return false;
        }
        $n = (int) substr($buf, $i, $d);
        $t = $buf[$j];
        if ($first && $t !== 'Q') {
            return false;
        }
        $first = false;
        $start = $j + 1;
        if ($start + $n + 1 > $len) {
            return null;
        }
        switch ($t) {
            case 'b': $id = substr($buf, $start, $n); break;
            case 'a': $name = substr($buf, $start, $n); break;
            case 'k': $data = substr($buf, $start, $n); break;
            case 'z': return [$id, $name, $data];
        }
        $i = $start + $n + 1;
    }
}

function serve($listener): void
{
    $sname = 'echo:' . getmypid() . '/0';
    $sfield = strlen($sname) . 's' . $sname . ',';
    for (;;) {
        $conn = @stream_socket_accept($listener, -1);
        if ($conn === false) {
            continue;
        }
        $buf = '';
        $got = null;
        for (;;) {
            $chunk = fread($conn, 65536);
            if ($chunk === false || $chunk === '') {
                break;
            }
            $buf .= $chunk;
            $got = scan($buf);
            if ($got !== null) {
                break;
            }
        }
        if (is_array($got)) {
            [$id, $name, $data] = $got;
            $out = '0A,' . strlen($id) . 'b' . $id . ',';
            if ($name !== '') {
                $out .= strlen($name) . 'a' . $name . ',';
            }
            $out .= $sfield;
            $out .= $data === '' ? '0z' . "\n" : strlen($data) . 'q' . $data . ',0z' . "\n";
            for ($off = 0, $total = strlen($out); $off < $total; $off += $w) {
                $w = fwrite($conn, $off === 0 ? $out : substr($out, $off));
                if ($w === false || $w === 0) {
                    break;
                }
            }
        }
        fclose($conn);
    }
}

[$path, $workers] = [$argv[1], (int) $argv[2]];
@unlink($path);
$listener = stream_socket_server('unix://' . $path, $errno, $errstr);
if ($listener === false) {
    fwrite(STDERR, "worker.php: $errstr\n");
    exit(1);
}
for ($k = 0; $k < $workers; $k++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        serve($listener);
        exit(0);
    }
}
while (pcntl_wait($status) > 0) {
}
