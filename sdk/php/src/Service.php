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

    private const DEFAULT_AFFINITY_TIMEOUT = 60;

    private const EINTR = 4;
    private const EPIPE = 32;
    private const ECONNABORTED = 103;

    private int $mode = self::MODE_NONE;
    private ?Fault $fault = null;
    private int $pid = 0;
    private string $serviceName = '';
    private bool $trace = false;

    /** @var resource|null the listening socket (manager and accept modes) */
    private $listen = null;
    /**
     * The listening socket through ext-sockets, when it is loaded: the
     * service blocks in accept(2) itself, and the kernel wakes one waiting
     * instance per connection. Without it, streams poll first.
     */
    private ?\Socket $listenSocket = null;
    private string $acceptPath = '';
    /** @var \Socket|resource|null the client connection: a blocking \Socket, or a non-blocking stream without ext-sockets */
    private $conn = null;
    /** @var resource|null stand-alone input (fd 3) */
    private $in = null;
    /** @var resource|null stand-alone output (fd 4) */
    private $out = null;
    /** Reads the request packets of every mode. */
    private PacketDecoder $decoder;
    private ?StatsSegment $stats = null;
    private ?Reporter $reporter = null;
    private int $affinityTimeout = self::DEFAULT_AFFINITY_TIMEOUT;
    /** The slot's request limit (0 = none). */
    private int $maximumRequests = 0;

    /** @var array<string,string> the current request's fields */
    private array $request = [];
    private ?ServiceKey $key = null;
    /** @var array<string,string>|null */
    private ?array $context = null;
    private ?Fault $contextFault = null;
    private bool $responseOwed = false;
    private bool $noWait = false;
    private bool $keepAffinity = false;
    /** When reading the current request started (microtime). */
    private float $startTime = 0.0;
    /** Requests handed to the application. */
    private int $served = 0;

    private bool $stopRequested = false;
    /** True while the loop blocks waiting for a request: SIGTERM then ends the wait (StopSignal). */
    private bool $waiting = false;
    private ?int $pendingStop = null;
    private ?int $exitReason = null;
    private bool $terminated = false;

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
            fclose($shm); // a duplicate of fd 4, which StatsSegment opens its own way
            $slotEnv = getenv('plutonSlot');
            $slot = is_string($slotEnv) && preg_match('/^[0-9]+$/', $slotEnv) === 1 ? (int) $slotEnv : -1;
            $this->stats = $slot >= 0 ? StatsSegment::open(4, $slot) : null;
            if ($this->stats !== null) {
                if ($this->stats->affinityTimeout() > 0) {
                    $this->affinityTimeout = $this->stats->affinityTimeout();
                }
                $this->maximumRequests = $this->stats->maximumRequests();
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
            $this->mode = self::MODE_STANDALONE;
        }
        if ($this->listen !== null && function_exists('socket_import_stream')) {
            $this->listenSocket = @socket_import_stream($this->listen) ?: null;
        }
        $this->decoder = new PacketDecoder(Packet::REQUEST, $this->trace, true);
        if ($this->mode === self::MODE_MANAGER) {
            $this->installSignalHandler();
            // Idle is published only once the stop signal can be honoured.
            $this->stats?->start($this->pid);
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
            if ($this->conn === null) {
                if ($this->maximumRequests > 0 && $this->served >= $this->maximumRequests) {
                    return $this->stop(StatsSegment::EXIT_MAX_REQUESTS);
                }
                if (!$this->acceptConnection()) {
                    // A failed accept left its fault; otherwise the stop signal came.
                    return $this->stop($this->fault !== null ? StatsSegment::EXIT_ACCEPT_FAILED : $this->shutdownRequest());
                }
                $timeout = null;
            } else {
                // Affinity (state 3 since the last response): the next request comes on the
                // same connection, unless bytes of it are already buffered.
                if (!$this->decoder->hasPartial()) {
                    $ready = $this->awaitAffinity();
                    if ($ready === null) {
                        return $this->stop($this->shutdownRequest());
                    }
                    if (!$ready) {
                        continue; // timed out or the client closed: back to accept
                    }
                }
                $timeout = (float) $this->affinityTimeout;
            }
            // A request has been accepted and its first byte is being read.
            $this->startTime = microtime(true);
            $this->stats?->requestStarted((int) ($this->startTime * 1000000));
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
        $this->listenSocket = null;
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
        foreach ([$this->in, $this->out] as $fp) {
            if ($fp !== null) {
                @fclose($fp);
            }
        }
        $this->in = $this->out = null;
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
        $this->key = $this->decoder->serviceKey();
        $this->noWait = isset($packet[Packet::NO_WAIT]);
        $this->keepAffinity = isset($packet[Packet::KEEP_AFFINITY]);
        $this->responseOwed = true;
        $this->served++;
        if ($this->trace) {
            $this->tracePacket('PktIn: ', $this->decoder->lastRaw());
        }
    }

    private function nextStandalone(): bool
    {
        while (true) {
            try {
                $packet = $this->decoder->next();
            } catch (ProtocolError $e) {
                return $this->protocolFault($e);
            }
            if ($packet !== null) {
                $this->startTime = microtime(true);
                $this->acceptRequest($packet);
                return true;
            }
            $chunk = @fread($this->in, $this->decoder->readSize());
            if (!is_string($chunk) || $chunk === '') {
                if (feof($this->in) || $chunk === false) {
                    if ($this->decoder->hasPartial()) {
                        return $this->setFault(Fault::REQUEST_DECODE_FAILED, 'unexpected EOF in packet');
                    }
                    return false;
                }
                continue;
            }
            $this->decoder->feed($chunk);
        }
    }

    /**
     * Blocks in accept (slot state idle) until a client connects. False when
     * the loop must stop: the stop signal came, or accept failed (the fault
     * is set then).
     */
    private function acceptConnection(): bool
    {
        $this->reporter?->flushIfDue(microtime(true));
        while (true) {
            error_clear_last();
            try {
                $this->waiting = true;
                if ($this->stopRequested) {
                    $this->waiting = false;
                    return false;
                }
                $conn = $this->listenSocket !== null
                    ? @socket_accept($this->listenSocket)
                    : @stream_socket_accept($this->listen, -1);
                $this->waiting = false;
            } catch (StopSignal) {
                return false;
            }
            if ($conn instanceof \Socket) {
                break;
            }
            if ($conn !== false) {
                stream_set_blocking($conn, false);
                stream_set_read_buffer($conn, 0);
                break;
            }
            if ($this->listenSocket !== null) {
                $errno = socket_last_error($this->listenSocket);
                if ($errno === self::EINTR || $errno === self::ECONNABORTED) {
                    continue;
                }
                $message = socket_strerror($errno);
            } else {
                $message = error_get_last()['message'] ?? 'accept failed';
                if (str_contains($message, 'Interrupted')) {
                    continue;
                }
            }
            $this->setFault(Fault::ACCEPT_FAILED, $message);
            return false;
        }
        $this->conn = $conn;
        $this->decoder->reset();
        return true;
    }

    /**
     * Waits (slot state affinity) for the next request on the kept
     * connection, at most the affinity timeout: true when its first bytes
     * came; false when the wait timed out or the client closed (the
     * connection is closed then, state idle); null on the stop signal.
     */
    private function awaitAffinity(): ?bool
    {
        $now = microtime(true);
        $this->reporter?->flushIfDue($now);
        try {
            $this->waiting = true;
            if ($this->stopRequested) {
                $this->waiting = false;
                return null;
            }
            $ready = $this->readable($now + $this->affinityTimeout);
            $this->waiting = false;
        } catch (StopSignal) {
            return null;
        }
        $first = $ready ? $this->receive(Io::CHUNK) : '';
        if ($first === false || $first === '') {
            $this->fault = null; // the client has gone: not a request, not a fault
            $this->closeConn();
            $this->stats?->setState(StatsSegment::STATE_IDLE, StatsSegment::nowMicros());
            return false;
        }
        $this->decoder->feed($first);
        return true;
    }

    /**
     * Reads the rest of a packet from the connection, within $timeout
     * seconds when given.
     *
     * @return array<string,string>|null null on a client error (the fault is set for a bad
     *         packet, a read error or EOF part-way; a clean EOF sets none)
     */
    private function readPacket(?float $timeout): ?array
    {
        $decoder = $this->decoder;
        $deadline = $timeout === null ? null : microtime(true) + $timeout;
        $buffered = $decoder->hasPartial(); // not on a fresh connection: read first
        while (true) {
            if ($buffered) {
                try {
                    $packet = $decoder->next();
                } catch (ProtocolError $e) {
                    $this->protocolFault($e);
                    return null;
                }
                if ($packet !== null) {
                    return $packet;
                }
            }
            if ($deadline !== null && !$this->readable($deadline)) {
                $this->setFault(Fault::SOCKET_READ_FAILED, 'timeout reading request');
                return null;
            }
            $chunk = $this->receive($buffered ? $decoder->readSize() : Io::CHUNK);
            if ($chunk === false) {
                return null;
            }
            if ($chunk === '') {
                if ($decoder->hasPartial()) {
                    $this->setFault(Fault::REQUEST_DECODE_FAILED, 'unexpected EOF in packet');
                }
                return null;
            }
            $decoder->feed($chunk);
            $buffered = true;
        }
    }

    /**
     * Reads at most $size bytes from the connection, waiting for them.
     *
     * @return string|false '' at EOF; false on a read error (with the fault set)
     */
    private function receive(int $size): string|false
    {
        $conn = $this->conn;
        while (true) {
            if ($conn instanceof \Socket) {
                $chunk = @socket_read($conn, $size);
                if ($chunk !== false) {
                    return $chunk;
                }
                $errno = socket_last_error($conn);
                if ($errno === self::EINTR) {
                    continue;
                }
                $this->setFault(Fault::SOCKET_READ_FAILED, socket_strerror($errno));
                return false;
            }
            $chunk = @fread($conn, $size);
            if ($chunk === false) {
                $this->setFault(Fault::SOCKET_READ_FAILED, error_get_last()['message'] ?? '');
                return false;
            }
            if ($chunk !== '' || feof($conn)) {
                return $chunk;
            }
            $r = [$conn];
            $w = [];
            Io::select($r, $w, null); // a signal only ends the wait early
        }
    }

    /**
     * Waits until the connection is readable (or at EOF), or until
     * $deadline (microtime) passes: then false.
     */
    private function readable(float $deadline): bool
    {
        while (true) {
            $left = max(0.0, $deadline - microtime(true));
            $sec = (int) $left;
            $usec = (int) (($left - $sec) * 1000000);
            $r = [$this->conn];
            $w = $e = null;
            if ($this->conn instanceof \Socket) {
                $n = @socket_select($r, $w, $e, $sec, $usec);
                $interrupted = $n === false && socket_last_error() === self::EINTR;
            } else {
                error_clear_last();
                $n = @stream_select($r, $w, $e, $sec, $usec);
                $interrupted = $n === false && str_contains(error_get_last()['message'] ?? '', 'Interrupted');
            }
            if (!$interrupted) {
                return $n !== 0; // on an error, the read that follows reports it
            }
            // A signal: wait for the rest of the time.
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
        $now = microtime(true);
        $this->reporter?->add($outcome, (int) (($now - $this->startTime) * 1000000), 0, 0, '', $now);
        $this->stats?->requestFinished(StatsSegment::STATE_IDLE, $outcome, (int) ($now * 1000000));
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
        $ok = true;
        if ($this->conn !== null) {
            $ok = $this->send($packet);
        } elseif ($this->mode === self::MODE_STANDALONE && !$this->noWait) {
            // Stand-alone mode writes nothing for noWait.
            if ($this->out === null) {
                $ok = $this->setFault(Fault::SOCKET_WRITE_FAILED, 'fd 4 is not open for stand-alone responses');
            } else {
                $ok = $this->writeAll($this->out, $packet);
            }
        }
        $outcome = !$ok ? Reporter::WRITE_ERROR : ($faultCode !== 0 ? Reporter::FAULT : Reporter::OK);
        if (!$ok) {
            $this->pendingStop = StatsSegment::EXIT_LOST_IO;
        }
        if ($this->trace && !$this->noWait) {
            $this->tracePacket('PktOut: ', $packet);
        }
        $now = microtime(true);
        $this->reporter?->add(
            $outcome,
            (int) (($now - $this->startTime) * 1000000),
            strlen($this->request[Packet::REQUEST_DATA] ?? ''),
            strlen($data),
            $this->key?->function ?? '',
            $now
        );
        $next = StatsSegment::STATE_IDLE;
        if ($ok && $this->keepAffinity && $this->conn !== null) {
            $next = StatsSegment::STATE_AFFINITY;
        } else {
            $this->closeConn();
        }
        $this->stats?->requestFinished($next, $outcome, (int) ($now * 1000000));
        return $ok;
    }

    /**
     * Writes all of $data to the connection. A client that has gone (EPIPE)
     * counts as success; the connection is then closed.
     */
    private function send(string $data): bool
    {
        $conn = $this->conn;
        if (!$conn instanceof \Socket) {
            return $this->writeAll($conn, $data);
        }
        $len = strlen($data);
        $off = 0;
        while (true) {
            $n = @socket_write($conn, $off === 0 ? $data : substr($data, $off));
            if ($n === false) {
                $errno = socket_last_error($conn);
                if ($errno === self::EINTR) {
                    continue;
                }
                if ($errno === self::EPIPE) {
                    $this->closeConn();
                    return true;
                }
                return $this->setFault(Fault::SOCKET_WRITE_FAILED, socket_strerror($errno));
            }
            $off += $n;
            if ($off >= $len) {
                return true;
            }
        }
    }

    /**
     * Writes all of $data to a stream (non-blocking or not). A client that
     * has gone (EPIPE) counts as success; the connection is then closed.
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
                if ($fp === $this->conn && $errno === self::EPIPE) {
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

    private function closeConn(): void
    {
        if ($this->conn instanceof \Socket) {
            socket_close($this->conn);
        } elseif ($this->conn !== null) {
            @fclose($this->conn);
        }
        $this->conn = null;
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
        pcntl_async_signals(true);
        // restart_syscalls=false: a blocking accept, select or read returns at once (EINTR).
        // The handler runs between two statements of the loop. While the loop waits for a
        // request, also when the signal came just before the wait began, it ends the wait;
        // otherwise the request in progress is finished first.
        pcntl_signal(SIGTERM, function (): void {
            if ($this->terminated) {
                exit(0); // the loop is over: nothing is left to finish
            }
            $this->stopRequested = true;
            if ($this->waiting) {
                $this->waiting = false;
                throw new StopSignal();
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
