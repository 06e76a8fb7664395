<?php

declare(strict_types=1);

namespace Pluton\Tests;

use PHPUnit\Framework\TestCase;
use Pluton\StatsSegment;

/**
 * Helpers shared by the tests: temp dirs, child services, stats segments.
 */
abstract class Harness extends TestCase
{
    public const ECHO = __DIR__ . '/../examples/echo.php';
    public const FIXTURES = __DIR__ . '/fixtures';

    /** @var string[] */
    private array $tempDirs = [];
    /** @var resource[] */
    private array $procs = [];

    protected function tearDown(): void
    {
        foreach ($this->procs as $p) {
            if (is_resource($p) && proc_get_status($p)['running']) {
                proc_terminate($p, 9);
            }
            if (is_resource($p)) {
                proc_close($p);
            }
        }
        $this->procs = [];
        foreach ($this->tempDirs as $d) {
            self::removeTree($d);
        }
        $this->tempDirs = [];
    }

    protected function tempDir(): string
    {
        // Short paths: a socket path must fit in sun_path (108 bytes), and a
        // test runner's TMPDIR can be long.
        $base = strlen(sys_get_temp_dir()) <= 40 ? sys_get_temp_dir() : '/tmp';
        $d = $base . '/plphp.' . bin2hex(random_bytes(4));
        mkdir($d, 0700);
        $this->tempDirs[] = $d;
        return $d;
    }

    /**
     * Starts a PHP script with the given descriptors (0-2 default to
     * /dev/null, /dev/null and a pipe for stderr).
     *
     * @param array<int,mixed>     $fds
     * @param array<string,string> $env extra environment
     * @param string[]             $phpOptions options of the PHP binary, before the script
     * @return array{0:resource,1:array<int,resource>}
     */
    protected function spawn(
        string $script,
        array $fds,
        array $env = [],
        array $args = [],
        array $phpOptions = []
    ): array {
        $spec = $fds + [
            0 => ['file', '/dev/null', 'r'],
            1 => ['file', '/dev/null', 'w'],
            2 => ['pipe', 'w'],
        ];
        ksort($spec);
        $environment = getenv();
        unset($environment['plutonAcceptSocket'], $environment['plutonSlot'], $environment['plutonPacketTrace']);
        // Descriptors above 2 that are not given are closed, so that nothing
        // this process has open (PHP sets no close-on-exec) leaks into the child.
        $keep = ' ' . implode(' ', array_keys($spec)) . ' ';
        $closer = 'for f in /proc/$$/fd/*; do n=${f##*/}; case "' . $keep . '" in *" $n "*) ;; '
            . '*) eval "exec $n>&-" 2>/dev/null;; esac; done; exec "$@"';
        $cmd = array_merge(['/bin/bash', '-c', $closer, 'bash', PHP_BINARY], $phpOptions, [$script], $args);
        $p = proc_open($cmd, $spec, $pipes, null, $env + $environment);
        $this->assertIsResource($p, "cannot start $script");
        $this->procs[] = $p;
        foreach ($pipes as $pipe) {
            stream_set_blocking($pipe, false);
        }
        return [$p, $pipes];
    }

    /** Waits for a child to exit and returns its exit code (-1 if still running after $seconds). */
    protected function waitExit($proc, float $seconds = 5.0): int
    {
        $end = microtime(true) + $seconds;
        do {
            $st = proc_get_status($proc);
            if (!$st['running']) {
                return $st['exitcode'];
            }
            usleep(5000);
        } while (microtime(true) < $end);
        return -1;
    }

    /** Polls $cond until it is true or $seconds pass. */
    protected function waitFor(callable $cond, float $seconds = 5.0): bool
    {
        $end = microtime(true) + $seconds;
        do {
            if ($cond()) {
                return true;
            }
            usleep(5000);
        } while (microtime(true) < $end);
        return (bool) $cond();
    }

    /**
     * Starts $script in manager mode, as plutonManager would (fd 3 the
     * listening socket <dir>/<key>.socket, fd 4 a stats segment, fd 5 a
     * pipe; slot 1), and waits until the slot says idle.
     *
     * @param array<string,int|string> $limits header fields (see makeSegment)
     * @return array{proc:resource,pipes:array<int,resource>,dir:string,segment:string,shm:resource,socket:string}
     */
    protected function manage(
        string $script,
        string $key,
        array $env = [],
        array $limits = [],
        int $affinityTimeout = 60
    ): array {
        $dir = $this->tempDir();
        $segment = "$dir/$key.mmap";
        $shm = $this->makeSegment($segment, 4, $affinityTimeout, $limits);
        $socket = "$dir/$key.socket";
        $listen = stream_socket_server("unix://$socket");
        [$proc, $pipes] = $this->spawn(
            $script,
            [3 => $listen, 4 => $shm, 5 => ['pipe', 'w']],
            $env + ['plutonSlot' => '1']
        );
        fclose($listen);
        $this->assertTrue(
            $this->waitFor(fn () => self::readSlot($segment, 1)['state'] === StatsSegment::STATE_IDLE),
            'service never became idle; stderr: ' . self::drain($pipes[2])
        );
        return ['proc' => $proc, 'pipes' => $pipes, 'dir' => $dir, 'segment' => $segment, 'shm' => $shm,
            'socket' => $socket];
    }

    /** Starts echo.php in accept mode on <dir>/<key>.socket and waits for the socket. */
    protected function startAcceptEcho(
        string $dir,
        string $key = 'system.echo.0.raw',
        string $script = self::ECHO
    ): array {
        $path = "$dir/$key.socket";
        $child = $this->spawn($script, [], ['plutonAcceptSocket' => $path]);
        $this->assertTrue($this->waitFor(fn () => self::isListening($path)), 'accept socket not listening');
        return $child;
    }

    /**
     * True once a Unix socket at $path listens (__SO_ACCEPTCON in
     * /proc/net/unix): the file exists from bind(), before listen().
     */
    protected static function isListening(string $path): bool
    {
        foreach (@file('/proc/net/unix', FILE_IGNORE_NEW_LINES) ?: [] as $line) {
            $f = preg_split('/\s+/', trim($line));
            if (count($f) >= 8 && $f[7] === $path && (hexdec($f[3]) & 0x10000) !== 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * A stats segment file (version 2) with a valid header.
     *
     * @param array<string,int|string> $limits recorderCycle, maximumRequestSize,
     *        requestReadTimeout (ms), maximumPending, threadsPerInstance, recorderPrefix
     */
    protected function makeSegment(string $path, int $slots = 4, int $affinityTimeout = 60, array $limits = [])
    {
        $h = pack(
            'a4VVVVVVVVVV',
            'PLSS',
            StatsSegment::VERSION,
            StatsSegment::HEADER_SIZE,
            StatsSegment::SLOT_SIZE,
            $slots,
            $affinityTimeout,
            $limits['recorderCycle'] ?? 0,
            $limits['maximumRequestSize'] ?? 0,
            $limits['requestReadTimeout'] ?? 0,
            $limits['maximumPending'] ?? 0,
            $limits['threadsPerInstance'] ?? 0
        );
        $h = str_pad($h, 64, "\0") . str_pad((string) ($limits['recorderPrefix'] ?? ''), 256, "\0");
        file_put_contents($path, str_pad($h, StatsSegment::HEADER_SIZE + StatsSegment::SLOT_SIZE * $slots, "\0"));
        $fp = fopen($path, 'r+');
        stream_set_read_buffer($fp, 0);
        stream_set_write_buffer($fp, 0);
        return $fp;
    }

    /**
     * @return array{pid:int,state:int,since:int,requests:int,responses:int,faults:int,busyMicros:int,
     *               maximumRequests:int,shutdownRequest:int,exitReason:int,requestID:int,recorderIndex:int,
     *               clientName:string}
     */
    protected static function readSlot(string $path, int $slot): array
    {
        clearstatcache();
        $b = substr(
            (string) file_get_contents($path),
            StatsSegment::HEADER_SIZE + StatsSegment::SLOT_SIZE * $slot,
            StatsSegment::SLOT_SIZE
        );
        $v = unpack(
            'Vpid/Vstate/Psince/Prequests/Presponses/Pfaults/PbusyMicros/VmaximumRequests/VshutdownRequest/'
            . 'VexitReason/Vreserved/PrequestID/VrecorderIndex/VclientNameLength',
            $b
        );
        $v['clientName'] = substr($b, 80, min(112, $v['clientNameLength']));
        return $v;
    }

    protected static function writeSlotField($fp, int $slot, int $offset, int $value): void
    {
        fseek($fp, StatsSegment::HEADER_SIZE + StatsSegment::SLOT_SIZE * $slot + $offset);
        fwrite($fp, pack('V', $value));
    }

    /** Reads whatever a non-blocking pipe holds. */
    protected static function drain($pipe): string
    {
        $out = '';
        while (is_string($c = fread($pipe, 65536)) && $c !== '') {
            $out .= $c;
        }
        return $out;
    }

    /** Reads until $n bytes have come, EOF, or $seconds pass. */
    protected static function readAtLeast($pipe, int $n, float $seconds = 5.0): string
    {
        $out = '';
        $end = microtime(true) + $seconds;
        while (strlen($out) < $n && microtime(true) < $end) {
            $c = fread($pipe, 65536);
            if (is_string($c) && $c !== '') {
                $out .= $c;
            } elseif (feof($pipe)) {
                break;
            } else {
                usleep(2000);
            }
        }
        return $out;
    }

    /** Reads until EOF (the child has exited). */
    protected static function readAll($pipe, float $seconds = 5.0): string
    {
        $out = '';
        $end = microtime(true) + $seconds;
        while (microtime(true) < $end) {
            $c = fread($pipe, 65536);
            if (is_string($c) && $c !== '') {
                $out .= $c;
                continue;
            }
            if (feof($pipe)) {
                break;
            }
            usleep(2000);
        }
        return $out;
    }

    private static function removeTree(string $d): void
    {
        if (!is_dir($d) || is_link($d)) {
            @unlink($d);
            return;
        }
        foreach (scandir($d) ?: [] as $e) {
            if ($e !== '.' && $e !== '..') {
                self::removeTree("$d/$e");
            }
        }
        @rmdir($d);
    }
}
