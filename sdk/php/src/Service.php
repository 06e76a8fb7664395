<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The service side of Pluton: a service loops on getRequest() and answers
 * each request with sendResponse() or sendFault().
 *
 *     $svc = new Pluton\Service('echo');
 *     if (!$svc->initialize()) { exit(42); }
 *     while ($svc->getRequest()) {
 *         $svc->sendResponse($svc->getRequestData());
 *     }
 *     $svc->terminate();
 *
 * initialize() picks the mode (docs/protocol.md section 3): manager mode
 * when fd 3 is a listening socket, fd 4 a regular file (the stats segment)
 * and fd 5 a pipe (reports); otherwise accept mode when plutonAcceptSocket
 * is set; otherwise stand-alone mode, reading requests from fd 3 and
 * writing responses to fd 4.
 */
class Service
{
    public const MODE_NONE = 0;
    public const MODE_MANAGER = 1;
    public const MODE_ACCEPT = 2;
    public const MODE_STANDALONE = 3;

    private const READY = 1;
    private const TIMEOUT = 2;
    private const SIGNAL = 3;

    private const DEFAULT_AFFINITY_TIMEOUT = 60;

    private int $mode = self::MODE_NONE;
    private ?Fault $fault = null;
    private int $pid = 0;
    private string $serviceName = '';
    private bool $trace = false;

    /** @var resource|null the listening socket (manager and accept modes) */
    private $listen = null;
    private string $acceptPath = '';
    /** @var resource|null the client connection */
    private $conn = null;
    /** @var resource|null stand-alone input (fd 3) */
    private $in = null;
    /** @var resource|null stand-alone output (fd 4) */
    private $out = null;
    private ?PacketDecoder $decoder = null;
    private ?StatsSegment $stats = null;
    private ?Reporter $reporter = null;
    private int $affinityTimeout = self::DEFAULT_AFFINITY_TIMEOUT;

    /** @var array<string,string> the current request's fields */
    private array $request = [];
    private ?ServiceKey $key = null;
    /** @var array<string,string>|null */
    private ?array $context = null;
    private ?Fault $contextFault = null;
    private bool $responseOwed = false;
    private bool $noWait = false;
    private bool $keepAffinity = false;
    private int $startNs = 0;
    /** Requests handed to the application. */
    private int $served = 0;

    private bool $stopRequested = false;
    private ?int $pendingStop = null;
    private ?int $exitReason = null;
    private bool $terminated = false;
    /** @var resource|null self-pipe woken by the SIGTERM handler */
    private $wakeRead = null;
    /** @var resource|null */
    private $wakeWrite = null;

    /** @param string $name goes into the response's service name `<name>:<pid>/0` */
    public function __construct(private string $name = '')
    {
    }

    public static function getAPIVersion(): string
    {
        return Version::get();
    }

    /**
     * Selects the mode and prepares it. Call it after the application's own
     * set-up. False with a fault on failure.
     */
    public function initialize(): bool
    {
        if ($this->mode !== self::MODE_NONE) {
            return $this->setFault(Fault::ALREADY_INITIALIZED);
        }
        $this->fault = null;
        $this->pid = getmypid();
        $this->serviceName = $this->name . ':' . $this->pid . '/0';
        $this->trace = getenv('plutonPacketTrace') !== false;

        $fds = self::managerFds();
        $acceptPath = getenv('plutonAcceptSocket');
        if ($fds !== null) {
            [$this->listen, $shm, $pipe] = $fds;
            $slotEnv = getenv('plutonSlot');
            $slot = is_string($slotEnv) && preg_match('/^[0-9]+$/', $slotEnv) === 1 ? (int) $slotEnv : -1;
            // fd 4 is one open file description shared by every instance, so its file
            // offset is shared too: reopen it for a private offset before fseek + fwrite.
            $own = @fopen('/proc/self/fd/4', 'r+b');
            if ($own !== false) {
                fclose($shm);
                $shm = $own;
            }
            $this->stats = $slot >= 0 ? StatsSegment::open($shm, $slot) : null;
            if ($this->stats === null) {
                fclose($shm);
            } else {
                if ($this->stats->affinityTimeout() > 0) {
                    $this->affinityTimeout = $this->stats->affinityTimeout();
                }
                $this->stats->start($this->pid);
            }
            $this->reporter = new Reporter($pipe, $this->pid, $this->stats !== null ? $slot : Reporter::NO_SLOT);
            $this->mode = self::MODE_MANAGER;
        } elseif (is_string($acceptPath) && $acceptPath !== '') {
            if (file_exists($acceptPath) || is_link($acceptPath)) {
                if (!@unlink($acceptPath)) {
                    return $this->setFault(Fault::OPEN_ACCEPT_SOCKET_FAILED, 'unlink ' . $acceptPath . ' failed');
                }
            }
            $ctx = stream_context_create(['socket' => ['backlog' => 20]]);
            $l = @stream_socket_server(
                'unix://' . $acceptPath,
                $errno,
                $errstr,
                STREAM_SERVER_BIND | STREAM_SERVER_LISTEN,
                $ctx
            );
            if ($l === false) {
                return $this->setFault(Fault::OPEN_ACCEPT_SOCKET_FAILED, $acceptPath . ': ' . $errstr);
            }
            $this->listen = $l;
            $this->acceptPath = $acceptPath;
            $this->mode = self::MODE_ACCEPT;
        } else {
            $in = @fopen('php://fd/3', 'r');
            if ($in === false || self::isMainScript($in)) {
                if ($in !== false) {
                    fclose($in);
                }
                return $this->setFault(Fault::NO_FAUX_STDIN, 'fd 3 is not open');
            }
            $out = @fopen('php://fd/4', 'w');
            if ($out !== false && self::isMainScript($out)) {
                fclose($out);
                $out = false;
            }
            stream_set_read_buffer($in, 0);
            $this->in = $in;
            if ($out !== false) {
                stream_set_write_buffer($out, 0);
                $this->out = $out;
            }
            $this->decoder = new PacketDecoder(Packet::REQUEST, $this->trace, true);
            $this->mode = self::MODE_STANDALONE;
        }
        if ($this->mode === self::MODE_MANAGER) {
            $this->installSignalHandler();
        }
        register_shutdown_function([$this, 'terminate']);
        return true;
    }

    /** The mode initialize() chose: one of the MODE_ constants. */
    public function getMode(): int
    {
        return $this->mode;
    }

    /**
     * Waits for the next request. False means stop: call terminate() and
     * exit. False with no fault means the manager wants the instance to end
     * (SIGTERM, maximum requests) or, in stand-alone mode, the end of input.
     */
    public function getRequest(): bool
    {
        if ($this->mode === self::MODE_NONE) {
            return $this->setFault(Fault::NOT_INITIALIZED);
        }
        if ($this->responseOwed) {
            return $this->setFault(Fault::GET_REQUEST_NOT_NEXT);
        }
        if ($this->terminated) {
            return false;
        }
        if ($this->pendingStop !== null) {
            return $this->stop($this->pendingStop); // keeps the fault that caused it
        }
        $this->fault = null;
        $this->clearRequest();
        if ($this->mode === self::MODE_STANDALONE) {
            return $this->nextStandalone();
        }
        while (true) {
            if ($this->stopRequested) {
                return $this->stop($this->shutdownRequest());
            }
            $maxRequests = $this->stats?->maximumRequests() ?? 0;
            if ($this->conn === null && $maxRequests > 0 && $this->served >= $maxRequests) {
                return $this->stop(StatsSegment::EXIT_MAX_REQUESTS);
            }
            if ($this->conn !== null) {
                // Affinity (state 3 since the last response): the next request comes on the
                // same connection, unless bytes of it are already buffered.
                if (!$this->decoder?->hasPartial()) {
                    $w = $this->waitReadable($this->conn, (float) $this->affinityTimeout);
                    if ($w === self::SIGNAL) {
                        return $this->stop($this->shutdownRequest());
                    }
                    $first = $w === self::READY ? @fread($this->conn, Io::CHUNK) : '';
                    if (!is_string($first) || $first === '') {
                        // Timed out or the client closed: back to accept.
                        $this->closeConn();
                        $this->stats?->setState(StatsSegment::STATE_IDLE);
                        continue;
                    }
                    $this->decoder?->feed($first);
                }
                $this->beginRequest();
                $timeout = (float) $this->affinityTimeout;
            } else {
                $w = $this->waitForConnection();
                if ($w === self::SIGNAL) {
                    return $this->stop($this->shutdownRequest());
                }
                error_clear_last();
                $c = @stream_socket_accept($this->listen, 0);
                if ($c === false) {
                    $msg = error_get_last()['message'] ?? 'accept failed';
                    if (str_contains($msg, 'timed out') || str_contains($msg, 'Interrupted')) {
                        continue; // another instance took it, or a signal
                    }
                    $this->setFault(Fault::ACCEPT_FAILED, $msg);
                    return $this->stop(StatsSegment::EXIT_ACCEPT_FAILED);
                }
                stream_set_blocking($c, false);
                stream_set_read_buffer($c, 0);
                $this->conn = $c;
                $this->decoder = new PacketDecoder(Packet::REQUEST, $this->trace, true);
                $this->beginRequest();
                $timeout = null;
            }
            $packet = $this->readPacket($timeout);
            if ($packet === null) {
                $this->finishRead(Reporter::READ_ERROR);
                if ($this->mode === self::MODE_MANAGER) {
                    $this->fault = null; // client errors are hidden in manager mode
                    continue;
                }
                return false;
            }
            $this->acceptRequest($packet);
            if ($this->noWait) {
                $this->closeConn();
            }
            return true;
        }
    }

    /** Sends the response data for the current request. */
    public function sendResponse(string $data): bool
    {
        if (!$this->responseOwed) {
            return $this->setFault(Fault::SEND_RESPONSE_NOT_NEXT);
        }
        return $this->respond(0, '', $data);
    }

    /**
     * Sends a fault for the current request. Codes 1-10 are reserved; use
     * codes above 10 for the service's own faults.
     */
    public function sendFault(int $faultCode, string $faultText): bool
    {
        if (!$this->responseOwed) {
            return $this->setFault(Fault::SEND_RESPONSE_NOT_NEXT);
        }
        return $this->respond($faultCode, $faultText, '');
    }

    /**
     * Ends the service: closes the sockets, marks the stats slot stopping
     * with the exit reason and sends the final report. It runs at script
     * shutdown too, and only once.
     */
    public function terminate(): void
    {
        if ($this->terminated || $this->mode === self::MODE_NONE) {
            return;
        }
        $this->terminated = true;
        $this->closeConn();
        if ($this->listen !== null) {
            @fclose($this->listen);
            $this->listen = null;
        }
        if ($this->acceptPath !== '') {
            @unlink($this->acceptPath);
        }
        if ($this->stats !== null) {
            $this->stats->stop($this->exitReason ?? StatsSegment::EXIT_NONE);
            $this->stats->close();
        }
        $this->reporter?->flush();
        $this->reporter?->close();
        foreach ([$this->in, $this->out, $this->wakeRead, $this->wakeWrite] as $fp) {
            if ($fp !== null) {
                @fclose($fp);
            }
        }
        $this->in = $this->out = $this->wakeRead = $this->wakeWrite = null;
    }

    /** The client's service key of the current request, e.g. `system.echo.0.raw`. */
    public function getServiceKey(): string
    {
        return $this->request[Packet::SERVICE_KEY] ?? '';
    }

    public function getServiceApplication(): string
    {
        return $this->key?->application ?? '';
    }

    /** The function the client asked for (a wildcard service reads the real one here). */
    public function getServiceFunction(): string
    {
        return $this->key?->function ?? '';
    }

    public function getServiceVersion(): int
    {
        return (int) ($this->key?->version ?? 0);
    }

    /** The serialization as the original's char code, e.g. 114 (`r`) for raw; see ServiceKey. */
    public function getSerializationType(): int
    {
        return $this->key?->serializationCode() ?? ServiceKey::SERIALIZATION_UNKNOWN;
    }

    /** True when the client asked not to wait: the connection is already closed. */
    public function getNoWait(): bool
    {
        return $this->noWait;
    }

    /** True when the client keeps the connection for its next request. */
    public function getKeepAffinity(): bool
    {
        return $this->keepAffinity;
    }

    /** The client's name `<name>:<pid>`, empty when the client sent none. */
    public function getClientName(): string
    {
        return $this->request[Packet::CLIENT_NAME] ?? '';
    }

    public function getRequestData(): string
    {
        return $this->request[Packet::REQUEST_DATA] ?? '';
    }

    /**
     * A context value of the current request, or null when absent. A
     * malformed context gives null and the fault contextFormatError.
     */
    public function getContext(string $key): ?string
    {
        if ($this->context === null && $this->contextFault === null) {
            try {
                $this->context = Packet::decodeContext($this->request[Packet::CONTEXT] ?? '');
            } catch (ProtocolError $e) {
                $this->contextFault = new Fault(Fault::CONTEXT_FORMAT_ERROR, $e->getMessage());
            }
        }
        if ($this->contextFault !== null) {
            $this->fault = $this->contextFault;
            return null;
        }
        return $this->context[$key] ?? null;
    }

    public function hasFault(): bool
    {
        return $this->fault !== null && $this->fault->hasFault();
    }

    public function getFault(): ?Fault
    {
        return $this->fault;
    }

    // ------------------------------------------------------------------

    private function setFault(int $code, string $text = ''): bool
    {
        $this->fault = new Fault($code, $text);
        return false;
    }

    private function clearRequest(): void
    {
        $this->request = [];
        $this->key = null;
        $this->context = null;
        $this->contextFault = null;
        $this->noWait = false;
        $this->keepAffinity = false;
    }

    /** @param array<string,string> $packet */
    private function acceptRequest(array $packet): void
    {
        $this->request = $packet;
        $this->key = ServiceKey::split($packet[Packet::SERVICE_KEY] ?? '');
        $this->noWait = isset($packet[Packet::NO_WAIT]);
        $this->keepAffinity = isset($packet[Packet::KEEP_AFFINITY]);
        $this->responseOwed = true;
        $this->served++;
        if ($this->trace) {
            $this->tracePacket('PktIn: ', $this->decoder?->lastRaw() ?? '');
        }
    }

    private function nextStandalone(): bool
    {
        while (true) {
            try {
                $packet = $this->decoder?->next();
            } catch (ProtocolError $e) {
                return $this->protocolFault($e);
            }
            if ($packet !== null) {
                $this->startNs = hrtime(true);
                $this->acceptRequest($packet);
                return true;
            }
            $chunk = @fread($this->in, $this->decoder?->readSize() ?? Io::CHUNK);
            if (!is_string($chunk) || $chunk === '') {
                if (feof($this->in) || $chunk === false) {
                    if ($this->decoder?->hasPartial()) {
                        return $this->setFault(Fault::REQUEST_DECODE_FAILED, 'unexpected EOF in packet');
                    }
                    return false;
                }
                continue;
            }
            $this->decoder?->feed($chunk);
        }
    }

    /** A request has been accepted and its first byte is being read. */
    private function beginRequest(): void
    {
        $this->startNs = hrtime(true);
        $this->stats?->requestStarted();
    }

    /**
     * Reads the rest of a packet from the connection.
     *
     * @return array<string,string>|null null on a client error (the fault is set for a bad
     *         packet, a read error or EOF part-way; a clean EOF sets none)
     */
    private function readPacket(?float $timeout): ?array
    {
        $deadline = $timeout === null ? null : microtime(true) + $timeout;
        while (true) {
            try {
                $packet = $this->decoder?->next();
            } catch (ProtocolError $e) {
                $this->protocolFault($e);
                return null;
            }
            if ($packet !== null) {
                return $packet;
            }
            $chunk = @fread($this->conn, $this->decoder?->readSize() ?? Io::CHUNK);
            if ($chunk === false) {
                $this->setFault(Fault::SOCKET_READ_FAILED, error_get_last()['message'] ?? '');
                return null;
            }
            if ($chunk !== '') {
                $this->decoder?->feed($chunk);
                continue;
            }
            if (feof($this->conn)) {
                if ($this->decoder?->hasPartial()) {
                    $this->setFault(Fault::REQUEST_DECODE_FAILED, 'unexpected EOF in packet');
                }
                return null;
            }
            $r = [$this->conn];
            $w = [];
            $left = $deadline === null ? null : $deadline - microtime(true);
            if ($left !== null && $left <= 0) {
                $this->setFault(Fault::SOCKET_READ_FAILED, 'timeout reading request');
                return null;
            }
            Io::select($r, $w, $left); // a signal only ends the wait early
        }
    }

    private function protocolFault(ProtocolError $e): bool
    {
        return $this->setFault(
            $e->isNetStringError() ? Fault::REQUEST_NET_STRING_PARSE_ERROR : Fault::REQUEST_DECODE_FAILED,
            $e->getMessage()
        );
    }

    /** A read that produced no request: report it, close, state idle. */
    private function finishRead(int $outcome): void
    {
        $this->closeConn();
        $this->reporter?->add($outcome, intdiv(hrtime(true) - $this->startNs, 1000), 0, 0, '');
        $this->stats?->requestFinished(StatsSegment::STATE_IDLE, $outcome);
    }

    private function respond(int $faultCode, string $faultText, string $data): bool
    {
        $this->responseOwed = false;
        $packet = Packet::encodeResponse(
            (string) Packet::number($this->request[Packet::REQUEST_ID] ?? ''),
            $this->request[Packet::CLIENT_NAME] ?? '',
            $this->serviceName,
            $faultCode,
            $faultText,
            $data
        );
        $outcome = $faultCode !== 0 ? Reporter::FAULT : Reporter::OK;
        $ok = true;
        if ($this->mode === self::MODE_STANDALONE) {
            if ($this->noWait) {
                // Stand-alone mode writes nothing for noWait.
            } elseif ($this->out === null) {
                $this->setFault(Fault::SOCKET_WRITE_FAILED, 'fd 4 is not open for stand-alone responses');
                $ok = false;
            } elseif (!$this->writeAll($this->out, $packet)) {
                $ok = false;
            }
        } elseif ($this->conn !== null) {
            if (!$this->writeAll($this->conn, $packet)) {
                $ok = false;
            }
        }
        if (!$ok) {
            $outcome = Reporter::WRITE_ERROR;
            $this->pendingStop = StatsSegment::EXIT_LOST_IO;
        }
        if ($this->trace && !$this->noWait) {
            $this->tracePacket('PktOut: ', $packet);
        }
        $this->reporter?->add(
            $outcome,
            intdiv(hrtime(true) - $this->startNs, 1000),
            strlen($this->request[Packet::REQUEST_DATA] ?? ''),
            strlen($data),
            $this->key?->function ?? ''
        );
        $next = StatsSegment::STATE_IDLE;
        if ($ok && $this->keepAffinity && $this->conn !== null) {
            $next = StatsSegment::STATE_AFFINITY;
        } else {
            $this->closeConn();
        }
        $this->stats?->requestFinished($next, $outcome);
        return $ok;
    }

    /**
     * Writes all of $data. A client that has gone (EPIPE) counts as success;
     * the connection is then closed.
     *
     * @param resource $fp
     */
    private function writeAll($fp, string $data): bool
    {
        $len = strlen($data);
        $off = 0;
        while ($off < $len) {
            $n = Io::writeSome($fp, $off === 0 ? $data : substr($data, $off), $errno);
            if ($n === false) {
                if ($fp === $this->conn && $errno === 32 /* EPIPE */) {
                    $this->closeConn();
                    return true;
                }
                $this->setFault(Fault::SOCKET_WRITE_FAILED, error_get_last()['message'] ?? 'write failed');
                return false;
            }
            $off += $n;
            if ($off < $len && $n === 0) {
                $r = [];
                $w = [$fp];
                Io::select($r, $w, null);
            }
        }
        return true;
    }

    /** Waits in state idle until a connection is pending, sending due reports meanwhile. */
    private function waitForConnection(): int
    {
        while (true) {
            $due = $this->reporter?->dueIn();
            if ($due !== null && $due <= 0.0) {
                $this->reporter?->flush();
                $due = null;
            }
            $w = $this->waitReadable($this->listen, $due);
            if ($w !== self::TIMEOUT) {
                return $w;
            }
        }
    }

    /**
     * Waits until $fp is readable, the timeout passes or SIGTERM arrives.
     *
     * @param resource $fp
     */
    private function waitReadable($fp, ?float $timeout): int
    {
        $deadline = $timeout === null ? null : microtime(true) + $timeout;
        while (true) {
            if ($this->stopRequested) {
                return self::SIGNAL;
            }
            $r = [$fp];
            if ($this->wakeRead !== null) {
                $r[] = $this->wakeRead;
            }
            $w = [];
            $n = Io::select($r, $w, $deadline === null ? null : $deadline - microtime(true));
            if ($n === false) {
                continue; // interrupted
            }
            if ($n === 0) {
                return self::TIMEOUT;
            }
            if ($this->wakeRead !== null && in_array($this->wakeRead, $r, true)) {
                @fread($this->wakeRead, 64);
                if ($this->stopRequested) {
                    return self::SIGNAL;
                }
            }
            if (in_array($fp, $r, true)) {
                return self::READY;
            }
        }
    }

    private function closeConn(): void
    {
        if ($this->conn !== null) {
            @fclose($this->conn);
            $this->conn = null;
        }
    }

    /** Stops the loop: records the exit reason, ends the service and returns false. */
    private function stop(int $exitReason): bool
    {
        $this->exitReason ??= $exitReason;
        $this->terminate();
        return false;
    }

    /** The exit reason after the manager's stop signal: the slot's shutdownRequest, else serviceShutdown. */
    private function shutdownRequest(): int
    {
        $reason = $this->stats?->shutdownRequest() ?? StatsSegment::EXIT_NONE;
        return $reason !== StatsSegment::EXIT_NONE ? $reason : StatsSegment::EXIT_SERVICE_SHUTDOWN;
    }

    private function tracePacket(string $prefix, string $raw): void
    {
        @fwrite(STDERR, $prefix . $raw . (str_ends_with($raw, "\n") ? '' : "\n"));
    }

    private function installSignalHandler(): void
    {
        if (!function_exists('pcntl_signal')) {
            return;
        }
        $pair = @stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        if ($pair !== false) {
            [$this->wakeRead, $this->wakeWrite] = $pair;
            stream_set_blocking($this->wakeRead, false);
            stream_set_blocking($this->wakeWrite, false);
        }
        pcntl_async_signals(true);
        // restart_syscalls=false: a blocking accept or read returns at once.
        pcntl_signal(SIGTERM, function (): void {
            if ($this->terminated) {
                exit(0); // the loop is over: nothing is left to finish
            }
            $this->stopRequested = true;
            if ($this->wakeWrite !== null) {
                @fwrite($this->wakeWrite, 'x');
            }
        }, false);
    }

    /**
     * The manager-mode descriptors, or null unless fd 3 is a listening
     * socket, fd 4 a regular file and fd 5 a pipe.
     *
     * @return array{0:resource,1:resource,2:resource}|null
     */
    private static function managerFds(): ?array
    {
        $opened = [];
        $want = [3 => [0140000, 'r+'], 4 => [0100000, 'r+'], 5 => [0010000, 'w']];
        foreach ($want as $fd => [$type, $mode]) {
            $fp = @fopen('php://fd/' . $fd, $mode);
            $st = $fp !== false ? @fstat($fp) : false;
            if ($fp !== false) {
                $opened[] = $fp;
            }
            if ($st === false || ($st['mode'] & 0170000) !== $type || ($fd === 3 && !self::isListening($fp))) {
                foreach ($opened as $o) {
                    fclose($o);
                }
                return null;
            }
        }
        return [$opened[0], $opened[1], $opened[2]];
    }

    /**
     * True if $fp is the script PHP is running: the CLI keeps it open on the
     * lowest free descriptor, which is 3 when the caller left 3 closed.
     *
     * @param resource $fp
     */
    private static function isMainScript($fp): bool
    {
        $script = get_included_files()[0] ?? '';
        $a = @fstat($fp);
        $b = $script !== '' ? @stat($script) : false;
        return $a !== false && $b !== false && $a['dev'] === $b['dev'] && $a['ino'] === $b['ino'];
    }

    /**
     * SO_ACCEPTCONN of a socket: through ext-sockets when loaded, otherwise
     * from the __SO_ACCEPTCON flag in /proc/net/unix.
     *
     * @param resource $fp
     */
    private static function isListening($fp): bool
    {
        if (function_exists('socket_import_stream')) {
            $sock = @socket_import_stream($fp);
            if ($sock !== false && $sock !== null) {
                $v = @socket_get_option($sock, SOL_SOCKET, 30 /* SO_ACCEPTCONN */);
                if ($v !== false) {
                    return $v === 1;
                }
            }
        }
        $st = @fstat($fp);
        $lines = @file('/proc/net/unix', FILE_IGNORE_NEW_LINES);
        if ($st === false || $lines === false) {
            return false;
        }
        foreach ($lines as $line) {
            $f = preg_split('/\s+/', trim($line));
            if (count($f) >= 7 && $f[6] === (string) $st['ino']) {
                return (hexdec($f[3]) & 0x10000) !== 0;
            }
        }
        return false;
    }
}
