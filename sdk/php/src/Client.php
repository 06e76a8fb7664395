<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The client side of Pluton: add requests, then run them, in parallel,
 * with one of the executeAndWait calls.
 *
 *     $client = new Pluton\Client('myApp');
 *     $client->initialize();               // lookup map or rendezvous dir
 *     $r = new Pluton\ClientRequest();
 *     $r->setRequestData('Hello');
 *     $client->addRequest('system.echo.0.raw', $r);
 *     $client->executeAndWaitAll();
 *     echo $r->hasFault() ? $r->getFault()->getMessageLong() : $r->getResponseData();
 *
 * Timeouts: every request has its own deadline, the client's timeout from
 * the moment it is added; a request still outstanding then completes with
 * serviceTimeout (-19). So every wait returns within the longest deadline
 * outstanding.
 */
class Client
{
    public const DEFAULT_LOOKUP_MAP = '/usr/local/var/pluton/lookup.map';
    public const LOOKUP_MAP_VERSION = 3001;
    public const MAXIMUM_TRY_COUNT = 2;

    /** sun_path: the longest socket path is one byte shorter. */
    private const SUN_PATH = 108;

    private static int $nextRequestId = 100;

    private string $location = '';
    private ?string $rendezvous = null;
    private ?Fault $fault = null;
    private bool $debug;
    /** @var array<int,Exchange> by spl_object_id of the request */
    private array $outstanding = [];
    /** @var array<int,ClientRequest> completed and not yet collected, in order */
    private array $completed = [];

    public function __construct(private string $name = '', private int $timeoutMilliSeconds = 4000)
    {
        $this->debug = getenv('plutonClientDebug') !== false;
    }

    public static function getAPIVersion(): string
    {
        return Version::get();
    }

    /**
     * Finds the rendezvous directory: $lookupMapPath if non-empty, else env
     * plutonLookupMap, else /usr/local/var/pluton/lookup.map. The location is
     * either the lookup map file the manager writes (its `rendezvous` line
     * is read) or a directory, taken as the rendezvous directory itself.
     * The first success wins; later calls return true.
     */
    public function initialize(string $lookupMapPath = ''): bool
    {
        if ($this->rendezvous !== null) {
            return true;
        }
        $this->fault = null;
        $env = getenv('plutonLookupMap');
        $this->location = $lookupMapPath !== ''
            ? $lookupMapPath
            : (is_string($env) && $env !== '' ? $env : self::DEFAULT_LOOKUP_MAP);
        $dir = self::readRendezvous($this->location);
        if ($dir instanceof Fault) {
            $this->fault = $dir;
            $this->log($dir->getMessageLong());
            return false;
        }
        $this->rendezvous = $dir;
        $this->log("rendezvous $dir from $this->location");
        return true;
    }

    /** The rendezvous directory in use, or null before initialize() succeeded. */
    public function getRendezvousDirectory(): ?string
    {
        return $this->rendezvous;
    }

    /** Ends all of this client's outstanding requests; later waits do not return them. */
    public function reset(): void
    {
        foreach ($this->outstanding as $ex) {
            $this->closeConn($ex);
            $ex->request->abandoned();
        }
        $this->outstanding = [];
        $this->completed = [];
    }

    /** The timeout of requests added from now on. */
    public function setTimeoutMilliSeconds(int $ms): void
    {
        $this->timeoutMilliSeconds = $ms;
    }

    public function getTimeoutMilliSeconds(): int
    {
        return $this->timeoutMilliSeconds;
    }

    public function setDebug(bool $on): void
    {
        $this->debug = $on;
    }

    public function hasFault(): bool
    {
        return $this->fault !== null;
    }

    public function getFault(): ?Fault
    {
        return $this->fault;
    }

    public function getFaultCode(): int
    {
        return $this->fault?->getFaultCode() ?? Fault::NO_FAULT;
    }

    public function getFaultMessage(string $pre = '', bool $longFormat = true): string
    {
        return $this->fault?->getMessageLong($pre, $longFormat) ?? '';
    }

    /**
     * Checks and queues a request and starts its clock; no I/O happens
     * until a wait call. On failure it returns false and the fault is on
     * both the client and the request.
     */
    public function addRequest(string $serviceKey, ClientRequest $request): bool
    {
        $this->fault = null;
        if ($this->rendezvous === null) {
            return $this->requestFault($request, Fault::NOT_INITIALIZED, 'initialize() has not succeeded');
        }
        if ($request->inProgress()) {
            $this->fault = new Fault(Fault::REQUEST_ALREADY_ADDED, $serviceKey);
            return false;
        }
        $attrs = $request->attributes();
        $keep = ($attrs & ClientRequest::KEEP_AFFINITY_ATTR) !== 0;
        $need = ($attrs & ClientRequest::NEED_AFFINITY_ATTR) !== 0;
        if ($keep && ($attrs & ClientRequest::NO_WAIT_ATTR) !== 0) {
            return $this->requestFault($request, Fault::NO_WAIT_NOT_ALLOWED, $serviceKey);
        }
        if ($keep && ($attrs & ClientRequest::NO_RETRY_ATTR) === 0) {
            return $this->requestFault($request, Fault::NEED_NO_RETRY, $serviceKey);
        }
        $key = null;
        $path = null;
        if ($need) {
            if ($request->affinity() === null) {
                return $this->requestFault($request, Fault::NO_AFFINITY, $serviceKey);
            }
        } else {
            try {
                $key = ServiceKey::parse($serviceKey);
            } catch (\InvalidArgumentException $e) {
                return $this->requestFault($request, Fault::SERVICE_KEY_BAD, $e->getMessage());
            }
            $exact = $this->rendezvous . '/' . $serviceKey . '.socket';
            if (strlen($exact) >= self::SUN_PATH) {
                return $this->requestFault($request, Fault::CONNECT_FAILED, $exact . ': File name too long');
            }
            $path = $this->resolve($key);
            if ($path === null) {
                return $this->requestFault($request, Fault::SERVICE_NOT_FOUND, $serviceKey);
            }
        }
        $id = self::nextId();
        $packet = Packet::encodeRequest(
            $id,
            $this->clientName(),
            $serviceKey,
            $this->timeoutMilliSeconds,
            self::flags($attrs),
            $request->encodedContext(),
            $request->getRequestData()
        );
        $request->started($this);
        $this->outstanding[spl_object_id($request)] = new Exchange(
            $request,
            $serviceKey,
            $key,
            $path,
            $packet,
            (string) $id,
            $attrs,
            microtime(true) + $this->timeoutMilliSeconds / 1000
        );
        $this->log("added id=$id $serviceKey" . ($path !== null ? " -> $path" : ' (affinity)'));
        return true;
    }

    /**
     * Runs until every outstanding request has been completely written (or
     * has ended). The requests stay in progress; another wait collects them.
     * Returns the number still in progress.
     */
    public function executeAndWaitSent(): int
    {
        $this->run(function (): bool {
            foreach ($this->outstanding as $ex) {
                if ($ex->state !== Exchange::READ) {
                    return false;
                }
            }
            return true;
        });
        return count($this->outstanding);
    }

    /**
     * Runs until nothing is outstanding and returns the number of completed
     * requests it collected (those not already collected by executeAndWaitAny
     * or executeAndWaitOne). Their results, timeouts included, are in the
     * requests.
     */
    public function executeAndWaitAll(): int
    {
        $this->run(fn (): bool => $this->outstanding === []);
        $n = count($this->completed);
        $this->completed = [];
        return $n;
    }

    /**
     * Returns a completed request that has not been collected yet, waiting
     * for one if need be, in order of completion; null when nothing is
     * outstanding or uncollected.
     */
    public function executeAndWaitAny(): ?ClientRequest
    {
        if ($this->completed === [] && $this->outstanding !== []) {
            $this->run(fn (): bool => $this->completed !== []);
        }
        $oid = array_key_first($this->completed);
        if ($oid === null) {
            return null;
        }
        $request = $this->completed[$oid];
        unset($this->completed[$oid]);
        return $request;
    }

    /**
     * Waits for $request and collects it: 1 once it has completed (its
     * result, a timeout included, is in the request); 0 if it is neither
     * outstanding nor uncollected here (the client's fault is then
     * requestNotAdded).
     */
    public function executeAndWaitOne(ClientRequest $request): int
    {
        $oid = spl_object_id($request);
        if (!isset($this->outstanding[$oid]) && !isset($this->completed[$oid])) {
            $this->fault = new Fault(Fault::REQUEST_NOT_ADDED);
            return 0;
        }
        $this->run(fn (): bool => !isset($this->outstanding[$oid]));
        unset($this->completed[$oid]);
        return 1;
    }

    /** @internal ClientRequest::reset() */
    public function forget(ClientRequest $request): void
    {
        $oid = spl_object_id($request);
        if (isset($this->outstanding[$oid])) {
            $this->closeConn($this->outstanding[$oid]);
            unset($this->outstanding[$oid]);
        }
        unset($this->completed[$oid]);
    }

    // ------------------------------------------------------------------

    /**
     * The rendezvous directory of a lookup location, or the fault.
     */
    private static function readRendezvous(string $location): string|Fault
    {
        if (is_dir($location)) {
            return rtrim($location, '/');
        }
        $text = @file_get_contents($location);
        if ($text === false) {
            $err = preg_replace('/^.*?: /', '', error_get_last()['message'] ?? '');
            return new Fault(Fault::OPEN_FOR_MMAP_FAILED, $location . ': ' . $err);
        }
        foreach (explode("\n", $text) as $line) {
            if (preg_match('/^# pluton lookup map (\d+)/', $line, $m) === 1 && (int) $m[1] !== self::LOOKUP_MAP_VERSION) {
                return new Fault(Fault::SHM_VERSION_MISMATCH, $location . ': lookup map version ' . $m[1]);
            }
            if (str_starts_with($line, 'rendezvous ')) {
                $dir = trim(substr($line, 11));
                if ($dir !== '') {
                    return rtrim($dir, '/');
                }
            }
        }
        return new Fault(Fault::MAP_INITIALIZATION_FAILED, $location . ": no 'rendezvous <dir>' line");
    }

    /**
     * `<R>/<SK>.socket`, else the wildcard `<R>/<App>..<Ver>.<Ser>.socket`;
     * on a miss the lookup map is read again in case the rendezvous
     * directory changed. Null when neither exists.
     */
    private function resolve(ServiceKey $key): ?string
    {
        for ($pass = 0; $pass < 2; $pass++) {
            foreach ([(string) $key, $key->wildcard()] as $name) {
                $path = $this->rendezvous . '/' . $name . '.socket';
                if (@filetype($path) === 'socket') {
                    return $path;
                }
            }
            if ($pass === 0 && !$this->refresh()) {
                break;
            }
        }
        return null;
    }

    /** Re-reads the lookup map; true when the rendezvous directory changed. */
    private function refresh(): bool
    {
        if ($this->location === '' || is_dir($this->location)) {
            return false;
        }
        $dir = self::readRendezvous($this->location);
        if ($dir instanceof Fault || $dir === $this->rendezvous) {
            return false;
        }
        $this->log("rendezvous changed to $dir");
        $this->rendezvous = $dir;
        return true;
    }

    private static function nextId(): int
    {
        $id = self::$nextRequestId;
        self::$nextRequestId = $id >= 10000000 ? 100 : $id + 1;
        return $id;
    }

    /** @return string[] the attribute netstring types of $attrs */
    private static function flags(int $attrs): array
    {
        $flags = [];
        foreach ([
            ClientRequest::NO_WAIT_ATTR => Packet::NO_WAIT,
            ClientRequest::NO_REMOTE_ATTR => Packet::NO_REMOTE,
            ClientRequest::NO_RETRY_ATTR => Packet::NO_RETRY,
            ClientRequest::KEEP_AFFINITY_ATTR => Packet::KEEP_AFFINITY,
            ClientRequest::NEED_AFFINITY_ATTR => Packet::NEED_AFFINITY,
        ] as $bit => $type) {
            if (($attrs & $bit) !== 0) {
                $flags[] = $type;
            }
        }
        return $flags;
    }

    private function clientName(): string
    {
        return $this->name . ':' . getmypid();
    }

    /** Drives the outstanding requests until $done() holds or none is left. */
    private function run(callable $done): void
    {
        while (true) {
            $now = microtime(true);
            foreach ($this->outstanding as $oid => $ex) {
                if ($ex->deadline <= $now) {
                    $this->complete($oid, Fault::SERVICE_TIMEOUT, 'service timeout');
                } elseif ($ex->state === Exchange::CONNECT && ($ex->notBefore ?? 0.0) <= $now) {
                    $this->start($oid);
                }
            }
            if ($done() || $this->outstanding === []) {
                return;
            }
            $read = $write = [];
            $wake = INF;
            foreach ($this->outstanding as $oid => $ex) {
                $wake = min($wake, $ex->deadline);
                if ($ex->state === Exchange::WRITE) {
                    $write[$oid] = $ex->conn;
                } elseif ($ex->state === Exchange::READ) {
                    $read[$oid] = $ex->conn;
                } elseif ($ex->notBefore !== null) {
                    $wake = min($wake, $ex->notBefore);
                }
            }
            $left = max(0.0, $wake - microtime(true));
            if ($read === [] && $write === []) {
                usleep((int) ($left * 1000000));
                continue;
            }
            if (!Io::select($read, $write, $left)) {
                continue; // timeout or a signal: deadlines are checked above
            }
            foreach (array_keys($write) as $oid) {
                if (isset($this->outstanding[$oid])) {
                    $this->doWrite($oid);
                }
            }
            foreach (array_keys($read) as $oid) {
                if (isset($this->outstanding[$oid])) {
                    $this->doRead($oid);
                }
            }
        }
    }

    /** Connects (or takes the affinity connection) and writes what it can at once. */
    private function start(int $oid): void
    {
        $ex = $this->outstanding[$oid];
        $ex->notBefore = null;
        $conn = $ex->tries === 0 ? $ex->request->affinity() : null;
        if ($conn === null) {
            $ex->request->setAffinity(null);
            $conn = @stream_socket_client(
                'unix://' . $ex->path,
                $errno,
                $errstr,
                1.0,
                STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT
            );
            if ($conn === false) {
                $this->connectFailed($oid, $errno, $errstr);
                return;
            }
            stream_set_blocking($conn, false);
            stream_set_read_buffer($conn, 0);
        }
        $ex->tries++;
        $ex->conn = $conn;
        $ex->written = 0;
        $ex->read = 0;
        $ex->decoder = new PacketDecoder(Packet::RESPONSE);
        $ex->state = Exchange::WRITE;
        $this->doWrite($oid);
    }

    /**
     * A connect that failed: ENOENT looks the key up again, a full backlog
     * (EAGAIN) is waited out until the deadline, a refused connection is
     * tried once more after 10 ms when retries are allowed.
     */
    private function connectFailed(int $oid, int $errno, string $errstr): void
    {
        $ex = $this->outstanding[$oid];
        $now = microtime(true);
        switch ($errno) {
            case 2: // ENOENT
                $path = $ex->parsedKey !== null ? $this->resolve($ex->parsedKey) : null;
                if ($path === null || $path === $ex->path) {
                    $this->complete($oid, Fault::SERVICE_NOT_FOUND, $ex->key);
                    return;
                }
                $ex->path = $path;
                $ex->notBefore = $now;
                return;
            case 11: // EAGAIN
                $ex->notBefore = $now + $ex->backoff;
                $ex->backoff = min(2 * $ex->backoff, 0.02);
                return;
            case 111: // ECONNREFUSED
                if (!$ex->refusedOnce && $ex->tries === 0 && $ex->mayRetry() && $ex->deadline - $now > 0.01) {
                    $ex->refusedOnce = true;
                    $ex->notBefore = $now + 0.01;
                    $this->log("id=$ex->id refused, retrying");
                    return;
                }
        }
        $this->complete($oid, Fault::CONNECT_FAILED, $ex->path . ': ' . $errstr);
    }

    private function doWrite(int $oid): void
    {
        $ex = $this->outstanding[$oid];
        $len = strlen($ex->packet);
        while ($ex->written < $len) {
            $chunk = $ex->written === 0 && $len <= Io::MAX_READ
                ? $ex->packet
                : substr($ex->packet, $ex->written, Io::MAX_READ);
            $n = Io::writeSome($ex->conn, $chunk);
            if ($n === false) {
                $this->failed($oid, Fault::SOCKET_WRITE_FAILED, error_get_last()['message'] ?? 'write failed', true);
                return;
            }
            if ($n === 0) {
                return; // wait until writable
            }
            $ex->written += $n;
        }
        $ex->state = Exchange::READ;
        $ex->request->written();
    }

    private function doRead(int $oid): void
    {
        $ex = $this->outstanding[$oid];
        $chunk = @fread($ex->conn, $ex->decoder->readSize());
        if ($chunk === false) {
            $this->failed($oid, Fault::SOCKET_READ_FAILED, error_get_last()['message'] ?? 'read failed', $ex->read === 0);
            return;
        }
        if ($chunk === '') {
            if (!feof($ex->conn)) {
                return;
            }
            if ($ex->read === 0 && ($ex->attrs & ClientRequest::NO_WAIT_ATTR) !== 0) {
                $this->complete($oid, Fault::NO_FAULT, ''); // noWait: the service took it and closed
                return;
            }
            $this->failed($oid, Fault::INCOMPLETE_RESPONSE, 'Socket closed with incomplete response', $ex->read === 0);
            return;
        }
        $ex->read += strlen($chunk);
        $ex->decoder->feed($chunk);
        try {
            $packet = $ex->decoder->next();
        } catch (ProtocolError $e) {
            $this->failed($oid, Fault::RESPONSE_PACKET_FORMAT_ERROR, $e->getMessage(), true);
            return;
        }
        if ($packet === null) {
            return;
        }
        $id = (string) Packet::number($packet[Packet::REQUEST_ID] ?? '');
        $name = $packet[Packet::CLIENT_NAME] ?? '';
        if ($id !== $ex->id || $name !== $this->clientName()) {
            $this->failed(
                $oid,
                Fault::RESPONSE_PACKET_FORMAT_ERROR,
                "response routing mismatch: got id $id for \"$name\", want id $ex->id for \"" . $this->clientName() . '"',
                true
            );
            return;
        }
        $code = Packet::number($packet[Packet::FAULT_CODE] ?? '');
        $this->complete(
            $oid,
            $code,
            $code !== 0 ? ($packet[Packet::FAULT_TEXT] ?? '') : '',
            $packet[Packet::RESPONSE_DATA] ?? '',
            $packet[Packet::SERVICE_NAME] ?? '',
            true
        );
    }

    /**
     * A failed attempt: tried once more on a fresh connection when nothing
     * usable came back, retries are allowed and the deadline is not past.
     */
    private function failed(int $oid, int $code, string $text, bool $retryable): void
    {
        $ex = $this->outstanding[$oid];
        $retry = $retryable && $ex->tries < self::MAXIMUM_TRY_COUNT && $ex->mayRetry()
            && microtime(true) < $ex->deadline;
        $this->log("id=$ex->id attempt $ex->tries failed: $code $text" . ($retry ? ', retrying' : ''));
        if (!$retry) {
            $this->complete($oid, $code, $text);
            return;
        }
        $this->closeConn($ex);
        $ex->conn = null;
        $ex->state = Exchange::CONNECT;
    }

    private function complete(
        int $oid,
        int $code,
        string $text,
        string $data = '',
        string $serviceName = '',
        bool $wholePacket = false
    ): void {
        $ex = $this->outstanding[$oid];
        unset($this->outstanding[$oid]);
        if ($wholePacket && ($ex->attrs & ClientRequest::KEEP_AFFINITY_ATTR) !== 0 && $ex->conn !== null) {
            $ex->request->setAffinity($ex->conn);
        } else {
            $this->closeConn($ex);
        }
        $ex->request->completed($code, $text, $data, $serviceName);
        $this->completed[$oid] = $ex->request;
        $this->log("id=$ex->id completed: fault=$code");
    }

    private function closeConn(Exchange $ex): void
    {
        if ($ex->conn !== null && $ex->request->affinity() === $ex->conn) {
            $ex->request->setAffinity(null);
        } elseif (is_resource($ex->conn)) {
            fclose($ex->conn);
        }
    }

    private function requestFault(ClientRequest $request, int $code, string $text = ''): bool
    {
        $request->completed($code, $text, '', '');
        $this->fault = new Fault($code, $text);
        $this->log($this->fault->getMessageLong());
        return false;
    }

    private function log(string $msg): void
    {
        if ($this->debug) {
            @fwrite(STDERR, 'CDebug: ' . $msg . "\n");
        }
    }
}
