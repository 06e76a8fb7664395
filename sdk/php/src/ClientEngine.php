<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Drives a client's requests in parallel: connect, write the request
 * packet, read the response packet, all non-blocking in one select loop.
 *
 * Resend rule (docs/sdk.md rule 6): a request is sent again at most once,
 * and only when it provably was not read: the connect failed (refused, the
 * socket vanished, or the backlog was full). Once a byte of it was written,
 * a connection that closes before a complete response is
 * incompleteResponse (-20); it is not resent.
 *
 * @internal
 */
final class ClientEngine
{
    private const ENOENT = 2;
    private const EAGAIN = 11;
    private const ECONNREFUSED = 111;

    /** sun_path: the longest socket path is one byte shorter. */
    private const SUN_PATH = 108;

    /**
     * The remote gateway's socket in the rendezvous directory: a manager
     * started with -N relays the requests for keys no local socket serves
     * to the hosts that serve them on NATS (docs/remote.md).
     */
    public const GATEWAY_SOCKET = 'plutonRemote.socket';

    public const INCOMPLETE_TEXT = 'the service instance closed the connection without a response: '
        . 'it may have died while serving this request';

    private static int $nextRequestId = 100;

    /** @var array<int,Exchange> by spl_object_id */
    private array $outstanding = [];
    private bool $debug;

    public function __construct(private Lookup $lookup, private string $clientName)
    {
        $this->debug = getenv('plutonClientDebug') !== false;
    }

    public function setDebug(bool $on): void
    {
        $this->debug = $on;
    }

    public function lookup(): Lookup
    {
        return $this->lookup;
    }

    public function clientName(): string
    {
        return $this->clientName;
    }

    /**
     * Checks a request, finds its socket and queues it; no I/O happens
     * until run().
     *
     * @param string        $context the encoded context payload
     * A key with no local socket goes to the remote gateway when there is
     * one, unless the request is noRemote or uses affinity.
     *
     * @param resource|null $affinity a kept connection (required with needAffinity)
     * @param string|null   $via      send to this socket instead of the key's (the gateway's job operations)
     * @throws Fault on a bad request, key or lookup
     */
    public function add(
        string $key,
        string $data,
        float $timeout,
        int $attrs,
        string $context,
        $affinity = null,
        ?\Closure $onDone = null,
        ?string $via = null
    ): Exchange {
        $keep = ($attrs & Exchange::KEEP_AFFINITY) !== 0;
        if ($keep && ($attrs & Exchange::NO_WAIT) !== 0) {
            throw new Fault(Fault::NO_WAIT_NOT_ALLOWED, $key);
        }
        if ($keep && ($attrs & Exchange::NO_RETRY) === 0) {
            throw new Fault(Fault::NEED_NO_RETRY, $key);
        }
        $parsed = null;
        $path = null;
        if (($attrs & Exchange::NEED_AFFINITY) !== 0) {
            if ($affinity === null) {
                throw new Fault(Fault::NO_AFFINITY, $key);
            }
        } else {
            try {
                $parsed = ServiceKey::parse($key);
            } catch (\InvalidArgumentException $e) {
                throw new Fault(Fault::SERVICE_KEY_BAD, $e->getMessage());
            }
            $exact = $this->lookup->rendezvous() . '/' . $key . '.socket';
            if (strlen($exact) >= self::SUN_PATH) {
                throw new Fault(Fault::CONNECT_FAILED, $exact . ': File name too long');
            }
            $path = $via ?? $this->lookup->resolve($parsed);
            if ($path === null && ($attrs & (0x0002 | Exchange::KEEP_AFFINITY | Exchange::NEED_AFFINITY)) === 0) {
                $path = $this->gatewayPath();
            }
            if ($path === null) {
                throw new Fault(Fault::SERVICE_NOT_FOUND, $key);
            }
        }
        $id = self::$nextRequestId;
        self::$nextRequestId = $id >= 10000000 ? 100 : $id + 1;
        $timeoutMs = (int) round($timeout * 1000);
        $flags = [];
        foreach (
            [
                Exchange::NO_WAIT => Packet::NO_WAIT,
                0x0002 => Packet::NO_REMOTE,
                Exchange::NO_RETRY => Packet::NO_RETRY,
                Exchange::KEEP_AFFINITY => Packet::KEEP_AFFINITY,
                Exchange::NEED_AFFINITY => Packet::NEED_AFFINITY,
            ] as $bit => $type
        ) {
            if (($attrs & $bit) !== 0) {
                $flags[] = $type;
            }
        }
        $packet = Packet::encodeRequest($id, $this->clientName, $key, $timeoutMs, $flags, $context, $data);
        $ex = new Exchange(
            $key,
            $parsed,
            $path,
            $packet,
            (string) $id,
            $attrs,
            $timeout,
            microtime(true) + $timeout,
            $affinity,
            $onDone
        );
        $this->outstanding[spl_object_id($ex)] = $ex;
        $this->log("added id=$id $key" . ($path !== null ? " -> $path" : ' (affinity)'));
        return $ex;
    }

    /** The remote gateway's socket path, or null when the local manager has none (no -N). */
    public function gatewayPath(): ?string
    {
        $path = $this->lookup->rendezvous() . '/' . self::GATEWAY_SOCKET;
        return @filetype($path) === 'socket' ? $path : null;
    }

    /** Connects and writes what the socket takes now, without waiting. */
    public function kick(Exchange $ex): void
    {
        $oid = spl_object_id($ex);
        if (isset($this->outstanding[$oid]) && $ex->state === Exchange::CONNECT) {
            $this->start($oid);
        }
    }

    /** True while $ex is in flight here. */
    public function has(Exchange $ex): bool
    {
        return isset($this->outstanding[spl_object_id($ex)]);
    }

    public function count(): int
    {
        return count($this->outstanding);
    }

    /** Drops an exchange without completing it; its connection is closed. */
    public function cancel(Exchange $ex): void
    {
        $oid = spl_object_id($ex);
        if (isset($this->outstanding[$oid])) {
            unset($this->outstanding[$oid]);
            $this->closeConn($ex);
            $ex->state = Exchange::DONE;
        }
    }

    /**
     * Drives the outstanding exchanges until $done() holds or none is left.
     * Every exchange ends by its deadline at the latest.
     *
     * @param callable():bool $done
     */
    public function run(callable $done): void
    {
        while (true) {
            $now = microtime(true);
            foreach ($this->outstanding as $oid => $ex) {
                if ($ex->deadline <= $now) {
                    $this->complete($oid, Fault::SERVICE_TIMEOUT, sprintf('no response within %g s', $ex->timeout));
                } elseif ($ex->state === Exchange::CONNECT && ($ex->notBefore ?? 0.0) <= $now) {
                    $this->start($oid);
                }
            }
            if ($this->outstanding === [] || $done()) {
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
        $conn = $ex->tries === 0 ? $ex->affinity : null;
        $ex->affinity = null;
        if ($conn === null) {
            if ($ex->path === null) {
                $this->complete($oid, Fault::NO_AFFINITY, $ex->key);
                return;
            }
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
        $ex->decoder = new PacketDecoder(Packet::RESPONSE);
        $ex->state = Exchange::WRITE;
        $this->doWrite($oid);
    }

    /**
     * A connect that failed, so nothing was sent: ENOENT looks the key up
     * again, a full backlog (EAGAIN) is waited out until the deadline, a
     * refused connection is tried once more after 10 ms unless noRetry.
     */
    private function connectFailed(int $oid, int $errno, string $errstr): void
    {
        $ex = $this->outstanding[$oid];
        $now = microtime(true);
        switch ($errno) {
            case self::ENOENT:
                if (str_ends_with((string) $ex->path, '/' . self::GATEWAY_SOCKET)) {
                    $this->complete($oid, Fault::SERVICE_NOT_FOUND, $ex->key . ': not served locally, and the remote gateway '
                        . $ex->path . ' is gone');
                    return;
                }
                $path = $ex->parsedKey !== null ? $this->lookup->resolve($ex->parsedKey) : null;
                if ($path === null || $path === $ex->path) {
                    $this->complete($oid, Fault::SERVICE_NOT_FOUND, $ex->key);
                    return;
                }
                $ex->path = $path;
                $ex->notBefore = $now;
                return;
            case self::EAGAIN:
                $ex->notBefore = $now + $ex->backoff;
                $ex->backoff = min(2 * $ex->backoff, 0.02);
                return;
            case self::ECONNREFUSED:
                if ($ex->tries === 0 && ($ex->attrs & Exchange::NO_RETRY) === 0 && $ex->deadline - $now > 0.01) {
                    $ex->tries = 1;
                    $ex->notBefore = $now + 0.01;
                    $this->log("id=$ex->id refused, trying once more");
                    return;
                }
        }
        if (str_ends_with((string) $ex->path, '/' . self::GATEWAY_SOCKET)) {
            $this->complete($oid, Fault::SERVICE_NOT_FOUND, $ex->key . ': not served locally, and remote gateway '
                . $ex->path . ': ' . $errstr);
            return;
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
                // The service closed its end: it may have answered already (a request too
                // large is answered before its body is read), so read what it sent.
                $this->log("id=$ex->id write failed after $ex->written bytes");
                $ex->state = Exchange::READ;
                $this->doRead($oid);
                return;
            }
            if ($n === 0) {
                return; // wait until writable
            }
            $ex->written += $n;
        }
        $ex->state = Exchange::READ;
    }

    private function doRead(int $oid): void
    {
        $ex = $this->outstanding[$oid];
        $chunk = @fread($ex->conn, $ex->decoder->readSize());
        if ($chunk === false || ($chunk === '' && feof($ex->conn))) {
            if ($ex->read === 0 && ($ex->attrs & Exchange::NO_WAIT) !== 0 && $ex->written === strlen($ex->packet)) {
                $this->complete($oid, Fault::NO_FAULT, ''); // noWait: the service took it and closed
                return;
            }
            if ($ex->written === 0 && $ex->read === 0) {
                $this->complete($oid, Fault::SOCKET_WRITE_FAILED, $ex->path . ': the service closed the connection');
                return;
            }
            $this->complete($oid, Fault::INCOMPLETE_RESPONSE, self::INCOMPLETE_TEXT);
            return;
        }
        if ($chunk === '') {
            return;
        }
        $ex->read += strlen($chunk);
        $ex->decoder->feed($chunk);
        try {
            $packet = $ex->decoder->next();
        } catch (ProtocolError $e) {
            $this->complete($oid, Fault::RESPONSE_PACKET_FORMAT_ERROR, $e->getMessage());
            return;
        }
        if ($packet === null) {
            return;
        }
        $id = (string) Packet::number($packet[Packet::REQUEST_ID] ?? '');
        $name = $packet[Packet::CLIENT_NAME] ?? '';
        if ($id !== $ex->id || $name !== $this->clientName) {
            $this->complete(
                $oid,
                Fault::RESPONSE_PACKET_FORMAT_ERROR,
                "response routing mismatch: got id $id for \"$name\", want id $ex->id for \"$this->clientName\""
            );
            return;
        }
        $code = Packet::number($packet[Packet::FAULT_CODE] ?? '');
        $ex->fromService = $code !== 0;
        $this->complete(
            $oid,
            $code,
            $code !== 0 ? ($packet[Packet::FAULT_TEXT] ?? '') : '',
            $packet[Packet::RESPONSE_DATA] ?? '',
            $packet[Packet::SERVICE_NAME] ?? '',
            true
        );
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
        if ($wholePacket && ($ex->attrs & Exchange::KEEP_AFFINITY) !== 0 && $ex->conn !== null) {
            $ex->affinity = $ex->conn; // kept for the next request; the owner takes it
        } else {
            $this->closeConn($ex);
        }
        $ex->conn = null;
        $ex->code = $code;
        $ex->text = $text;
        $ex->data = $code === Fault::NO_FAULT ? $data : '';
        $ex->serviceName = $serviceName;
        $ex->state = Exchange::DONE;
        $this->log("id=$ex->id completed: fault=$code");
        if ($ex->onDone !== null) {
            ($ex->onDone)($ex);
        }
    }

    private function closeConn(Exchange $ex): void
    {
        if (is_resource($ex->conn)) {
            fclose($ex->conn);
        }
        $ex->conn = null;
    }

    private function log(string $msg): void
    {
        if ($this->debug) {
            @fwrite(STDERR, 'CDebug: ' . $msg . "\n");
        }
    }
}
