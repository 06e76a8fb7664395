<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Manager and accept mode: requests come on connections accepted from a
 * listening Unix socket (docs/protocol.md section 8).
 *
 * Fast path: with no connection pending, block in accept (SO_RCVTIMEO 1 s,
 * so the stop signal and due reports are seen within a second), read the
 * new connection without waiting, and when that read holds a complete
 * packet serve it at once. A connection whose packet is still incomplete
 * joins the pending set with a deadline (accept time + request read
 * timeout); while the set is not empty, one select waits on the listening
 * socket and every pending connection. A connection past its deadline is
 * closed without an answer; when the set is full the oldest is closed. A
 * length prefix above the request size limit is answered at once with
 * fault 3 requestTooLarge. Client errors never end the loop: the
 * connection is closed and counted as a read error in the report. Writing
 * a response is bounded the same way (send): a client that takes none of
 * it for the request read timeout is dropped, a write error in the report.
 *
 * @internal
 */
final class SocketSource implements RequestSource
{
    private const EINTR = 4;
    private const EAGAIN = 11;
    private const EPIPE = 32;
    private const ECONNRESET = 104;
    private const ECONNABORTED = 103;
    private const MSG_DONTWAIT = 0x40;
    private const MSG_PEEK = 0x2;
    /** A first read that looks for the head of a packet with a large payload. */
    private const PEEK_SIZE = 4096;
    /** After a request with this much data, the next connection's head is read apart. */
    private const EXPECT_LARGE = 131072;
    /** The longest blocking read of a large payload, seconds. */
    private const BLOCKING_WAIT = 0.01;
    /** A response part this large is sent blocking and whole: no copy of its rest. */
    private const BLOCKING_WRITE = 131072;
    /** How much earlier than SO_SNDTIMEO a short blocking send may return, seconds. */
    private const TIMER_SLACK = 0.002;
    /** ENOMEM, ENFILE, EMFILE, ENOBUFS: accept failed for lack of resources, not for good. */
    private const OUT_OF_RESOURCES = [12, 23, 24, 105];

    /** @var array<int,Connection> incomplete connections by spl_object_id of their socket, oldest first */
    private array $pending = [];
    /** The last request was large: read the head of the next one apart (readHead). */
    private bool $expectLarge = false;
    /** No blocking read of a payload before this time (microtime): one ran out. */
    private float $noWaitUntil = 0.0;
    /** The connection kept for the client's next request (keepAffinity). */
    private ?Connection $affinity = null;

    /**
     * @param \Socket       $listen the listening socket (blocking)
     * @param resource|null $stream the stream $listen was imported from, kept open with it
     * @param string        $unlink a socket file to remove at close (accept mode)
     */
    public function __construct(
        private \Socket $listen,
        private $stream,
        private string $unlink,
        private SignalWatcher $signals,
        private Books $books,
        private Limits $limits,
        private string $serviceName,
        private bool $keepRaw
    ) {
        // The same 1 s in every SDK: accept returns EAGAIN at least once a second.
        @socket_set_option($listen, SOL_SOCKET, SO_RCVTIMEO, ['sec' => 1, 'usec' => 0]);
    }

    public function next(): ?Incoming
    {
        while (!$this->signals->stopRequested()) {
            if ($this->affinity !== null) {
                $in = $this->nextOnAffinity();
                if ($in !== null) {
                    return $in;
                }
                continue;
            }
            if (class_exists(\Pluton\Coord\Coord::class, false)) {
                \Pluton\Coord\Coord::pollAll(); // messages and timer ticks, between requests
            }
            $this->books->waiting(StatsSegment::STATE_IDLE);
            $in = $this->pending === [] ? $this->acceptAndRead() : $this->poll();
            if ($in !== null) {
                return $in;
            }
        }
        // Stopping: serve the connections already accepted before leaving.
        return $this->affinity === null ? $this->nextPending() : null;
    }

    /**
     * The next request from the connections already accepted, accepting no
     * more (the instance is leaving, at its maximum requests or on the stop
     * signal: their clients must not lose their requests); null once none
     * is left (each is bounded by its deadline).
     */
    public function nextPending(): ?Incoming
    {
        while ($this->pending !== []) {
            $in = $this->poll(false);
            if ($in !== null) {
                return $in;
            }
        }
        return null;
    }

    public function reply(Incoming $in, string $packet, string $data = '', string $tail = ''): int
    {
        $conn = $in->conn;
        if ($conn === null) {
            return self::SENT; // noWait: closed when read
        }
        $in->conn = null;
        $sent = $this->send($conn, [$packet, $data, $tail]);
        if ($sent !== self::SENT || !isset($in->fields[Packet::KEEP_AFFINITY])) {
            $conn->close();
        } else {
            $this->affinity = $conn;
        }
        return $sent;
    }

    /**
     * Writes $parts to $conn, each stall bounded by the request read timeout
     * (docs/protocol.md section 8.2): a client that takes none of its
     * response for that long is dropped, STALLED.
     *
     * A part under BLOCKING_WRITE bytes is first sent without waiting
     * (MSG_DONTWAIT): a response that fits in the socket buffer costs one
     * send per part and nothing more. A larger part, or the rest of one the
     * buffer did not take, is written blocking with SO_SNDTIMEO = the
     * timeout (set once per connection), a large part whole, as PHP cannot
     * send from an offset without copying the rest. A blocking send that
     * returns early ran out of time (nothing taken for the timeout: EAGAIN,
     * or a short count after the timeout) or was interrupted by a signal;
     * after a stop signal the rest of the wait is bounded by what was left
     * of the timeout, so a stop is not delayed by a stalled client.
     *
     * @param list<string> $parts
     * @return int SENT (also when the client has gone: EPIPE, ECONNRESET), STALLED or FAILED
     */
    private function send(Connection $conn, array $parts): int
    {
        $sock = $conn->socket;
        $timeout = $this->limits->requestReadTimeout;
        $flags = self::MSG_DONTWAIT;
        $since = 0.0; // blocking: when the client last took bytes (as far as is known)
        $shortened = false; // SO_SNDTIMEO holds less than $timeout after a stop signal
        foreach ($parts as $part) {
            $len = strlen($part);
            $off = 0;
            while ($off < $len) {
                if ($flags !== 0 && $len >= self::BLOCKING_WRITE) {
                    $flags = $this->blocking($conn, $timeout);
                    $since = microtime(true);
                }
                $call = $flags === 0 && $timeout > 0 ? microtime(true) : 0.0;
                $n = @socket_send($sock, $off === 0 ? $part : substr($part, $off), $len - $off, $flags);
                if ($n === false) {
                    $errno = socket_last_error($sock);
                    if ($errno === self::EAGAIN && $flags !== 0) {
                        $flags = $this->blocking($conn, $timeout); // the buffer is full: wait for room
                        $since = microtime(true);
                        continue;
                    }
                    if ($errno === self::EINTR && ($flags !== 0 || $timeout <= 0)) {
                        continue;
                    }
                    if ($errno === self::EINTR) {
                        // A signal, and nothing taken since $since.
                        $left = $since + $timeout - microtime(true);
                        if ($left <= 0.0) {
                            return self::STALLED;
                        }
                        $shortened = self::sendTimeout($sock, $left);
                        continue;
                    }
                    if ($errno === self::EAGAIN) {
                        return self::STALLED; // SO_SNDTIMEO ran out with nothing taken
                    }
                    // A client that has gone is not the service's failure: the response counts as sent.
                    return $errno === self::EPIPE || $errno === self::ECONNRESET ? self::SENT : self::FAILED;
                }
                $off += $n;
                if ($off >= $len) {
                    if ($shortened) {
                        $shortened = !self::sendTimeout($sock, $timeout);
                    }
                    continue;
                }
                if ($flags !== 0) {
                    $flags = $this->blocking($conn, $timeout); // the buffer took part of it: it is full
                    $since = microtime(true);
                    continue;
                }
                if ($call > 0.0) {
                    // A short blocking send: the timeout ran out after the client stopped
                    // taking bytes, or a signal came.
                    $now = microtime(true);
                    if ($now - $call >= $timeout - self::TIMER_SLACK) {
                        return self::STALLED;
                    }
                    if ($this->signals->stopRequested()) {
                        // Stopping: wait no longer than the timeout from this send's start.
                        $shortened = self::sendTimeout($sock, $call + $timeout - $now);
                        $since = $call;
                        continue;
                    }
                    if ($shortened) {
                        $shortened = !self::sendTimeout($sock, $timeout);
                    }
                    $since = $now;
                }
            }
        }
        return self::SENT;
    }

    /**
     * The send flags of a blocking write to $conn, bounded by $timeout
     * (SO_SNDTIMEO, set once per connection; 0 = no bound).
     */
    private function blocking(Connection $conn, float $timeout): int
    {
        if (!$conn->sendBounded && $timeout > 0) {
            $conn->sendBounded = self::sendTimeout($conn->socket, $timeout);
        }
        return 0;
    }

    /** Sets SO_SNDTIMEO on $sock to $seconds (at least 1 µs). */
    private static function sendTimeout(\Socket $sock, float $seconds): bool
    {
        $usec = max(1, (int) ($seconds * 1000000));
        return @socket_set_option(
            $sock,
            SOL_SOCKET,
            SO_SNDTIMEO,
            ['sec' => intdiv($usec, 1000000), 'usec' => $usec % 1000000]
        );
    }

    public function holdsAffinity(): bool
    {
        return $this->affinity !== null;
    }

    public function close(): void
    {
        $this->affinity?->close();
        $this->affinity = null;
        foreach ($this->pending as $conn) {
            $conn->close();
        }
        $this->pending = [];
        socket_close($this->listen);
        if (is_resource($this->stream)) {
            fclose($this->stream);
        }
        $this->stream = null;
        if ($this->unlink !== '') {
            @unlink($this->unlink);
        }
    }

    /** The fast path: a blocking accept, then one read that does not wait. */
    private function acceptAndRead(): ?Incoming
    {
        $listen = $this->listen;
        $sock = $this->signals->wait(static fn () => @socket_accept($listen));
        if ($sock === SignalWatcher::STOPPED) {
            return null;
        }
        if (!$sock instanceof \Socket) {
            // socket_accept() records its errno globally, not on the listening socket.
            $errno = socket_last_error();
            socket_clear_error();
            if ($errno === self::EAGAIN || $errno === self::EINTR || $errno === self::ECONNABORTED) {
                return null; // the 1 s accept timeout, a signal, or a client that went away
            }
            if (in_array($errno, self::OUT_OF_RESOURCES, true)) {
                // Out of descriptors or memory for now: make room and try again, never a busy loop.
                $oldest = array_key_first($this->pending);
                if ($oldest !== null) {
                    $this->drop($this->pending[$oldest]);
                    unset($this->pending[$oldest]);
                }
                usleep(10000);
                return null;
            }
            throw new Fault(Fault::ACCEPT_FAILED, 'accept: ' . socket_strerror($errno));
        }
        $now = microtime(true);
        $conn = new Connection($sock, $this->keepRaw, $this->limits->maximumRequestSize, $now, $this->deadline($now));
        return $this->readOrPend($conn);
    }

    /**
     * Waits on the listening socket (unless not accepting) and the pending
     * connections, up to the nearest deadline.
     */
    private function poll(bool $accepting = true): ?Incoming
    {
        $this->expire();
        if ($this->pending === []) {
            return null;
        }
        $wait = 1.0; // at least once a second: reports, and a stop request
        $now = microtime(true);
        $read = $accepting ? [$this->listen] : [];
        foreach ($this->pending as $conn) {
            $wait = min($wait, max(0.0, $conn->deadline - $now));
            $read[] = $conn->socket;
        }
        $sec = (int) $wait;
        $usec = (int) (($wait - $sec) * 1000000);
        $select = static function () use (&$read, $sec, $usec) {
            $write = $except = null;
            return @socket_select($read, $write, $except, $sec, $usec);
        };
        // Leaving, the pending connections are waited for even after the stop signal.
        $n = $accepting ? $this->signals->wait($select) : $select();
        if ($n === SignalWatcher::STOPPED || !is_int($n) || $n === 0) {
            return null;
        }
        $accept = false;
        foreach ($read as $sock) {
            if ($sock === $this->listen) {
                $accept = true;
                continue;
            }
            $oid = spl_object_id($sock);
            $conn = $this->pending[$oid] ?? null;
            if ($conn === null) {
                continue;
            }
            unset($this->pending[$oid]);
            $in = $this->readOrPend($conn);
            if ($in !== null) {
                return $in;
            }
        }
        return $accept && $accepting ? $this->acceptAndRead() : null;
    }

    /**
     * Waits (state affinity) for the next request on the kept connection, at
     * most the affinity timeout. A wait that ends without a byte (timeout,
     * client close) is not a request: the connection is closed.
     */
    private function nextOnAffinity(): ?Incoming
    {
        $conn = $this->affinity;
        $this->affinity = null;
        if (!$conn->decoder->hasPartial()) {
            $this->books->waiting(StatsSegment::STATE_AFFINITY);
            $timeout = $this->limits->affinityTimeout;
            $sock = $conn->socket;
            $n = $this->signals->wait(static function () use ($sock, $timeout) {
                $read = [$sock];
                $write = $except = null;
                $sec = (int) $timeout;
                return @socket_select($read, $write, $except, $sec, (int) (($timeout - $sec) * 1000000));
            });
            if ($n !== 1) {
                $conn->close();
                return null;
            }
            $peek = '';
            if (@socket_recv($sock, $peek, 1, self::MSG_DONTWAIT | self::MSG_PEEK) !== 1) {
                $conn->close(); // the client closed: no request, no report entry
                return null;
            }
        }
        $now = microtime(true);
        $conn->startTime = $now;
        $conn->deadline = $this->deadline($now);
        return $this->readOrPend($conn);
    }

    /**
     * Reads what $conn has without waiting. A complete packet is returned;
     * an incomplete one joins the pending set; a closed or broken
     * connection is dropped (a read error), an oversize one answered with
     * fault 3.
     */
    private function readOrPend(Connection $conn): ?Incoming
    {
        $sock = $conn->socket;
        $decoder = $conn->decoder;
        $packet = null;
        try {
            $packet = $decoder->next(); // bytes after an earlier packet (affinity)
            if ($packet === null && $this->expectLarge && !$decoder->hasPartial()) {
                $this->readHead($conn);
            }
            while ($packet === null) {
                $whole = $decoder->wholePayloadWanted();
                $size = $whole > 0 ? $whole : $decoder->readSize();
                $flags = $whole > 0 && $this->mayWait($conn) ? MSG_WAITALL : self::MSG_DONTWAIT;
                $buf = '';
                $n = @socket_recv($sock, $buf, $size, $flags);
                if ($n === false) {
                    $errno = socket_last_error($sock);
                    if ($errno === self::EINTR) {
                        continue;
                    }
                    if ($errno !== self::EAGAIN) {
                        $this->drop($conn);
                        return null;
                    }
                    if ($flags === MSG_WAITALL) {
                        $this->waitedOut();
                        continue;
                    }
                    break;
                }
                if ($n === 0) {
                    $this->drop($conn);
                    return null;
                }
                $decoder->feed($buf);
                $packet = $decoder->next();
                if ($n < $size) {
                    if ($flags === MSG_WAITALL) {
                        $this->waitedOut();
                        continue;
                    }
                    break; // the socket is most likely drained
                }
            }
        } catch (TooLargeError $e) {
            $this->refuse($conn, $e);
            return null;
        } catch (ProtocolError) {
            $this->drop($conn);
            return null;
        }
        if ($packet === null) {
            $this->pend($conn);
            return null;
        }
        $this->expectLarge = strlen($packet[Packet::REQUEST_DATA] ?? '') >= self::EXPECT_LARGE;
        $start = $conn->startTime;
        if (isset($packet[Packet::NO_WAIT])) {
            $conn->close(); // the client waits only until the request was read
            $conn = null;
        }
        return new Incoming($packet, $decoder->lastRaw(), $decoder->serviceKey(), $start, $conn);
    }

    /**
     * After large requests, the first read of a connection looks at its
     * first bytes without taking them, and takes only the packet's head up
     * to a large payload, so that the payload can be read whole, into a
     * string used as it is.
     */
    private function readHead(Connection $conn): void
    {
        $peek = '';
        $n = @socket_recv($conn->socket, $peek, self::PEEK_SIZE, self::MSG_DONTWAIT | self::MSG_PEEK);
        if ($n === false || $n === 0) {
            return; // the usual read finds out
        }
        $at = PacketDecoder::payloadStart($peek, PacketDecoder::LARGE_PAYLOAD);
        if ($at === 0) {
            return;
        }
        $head = '';
        if (@socket_recv($conn->socket, $head, $at, self::MSG_DONTWAIT) === $at) {
            $conn->decoder->feed($head);
            $conn->decoder->next(); // null: the payload is still to come
        } elseif ($head !== '') {
            $conn->decoder->feed($head);
        }
    }

    /**
     * True when the rest of a large payload may be read with one blocking
     * read: the bytes are coming, and a single read gives the payload in one
     * string. The wait is bounded (SO_RCVTIMEO, BLOCKING_WAIT, and never past
     * the connection's deadline), taken at most once per connection, and
     * after a wait that ran out no connection waits for a second.
     */
    private function mayWait(Connection $conn): bool
    {
        if ($conn->waited || microtime(true) < $this->noWaitUntil) {
            return false;
        }
        $conn->waited = true;
        $wait = min(self::BLOCKING_WAIT, $conn->deadline - microtime(true));
        if ($wait <= 0.0) {
            return false;
        }
        $usec = max(1, (int) ($wait * 1000000));
        return @socket_set_option(
            $conn->socket,
            SOL_SOCKET,
            SO_RCVTIMEO,
            ['sec' => intdiv($usec, 1000000), 'usec' => $usec % 1000000]
        );
    }

    /** A bounded blocking read ran out: the client is slow, none waits for a second. */
    private function waitedOut(): void
    {
        $this->noWaitUntil = microtime(true) + 1.0;
    }

    private function pend(Connection $conn): void
    {
        if (count($this->pending) >= $this->limits->maximumPending) {
            $oldest = array_key_first($this->pending);
            $this->drop($this->pending[$oldest]);
            unset($this->pending[$oldest]);
        }
        $this->pending[spl_object_id($conn->socket)] = $conn;
    }

    /** Closes the pending connections past their deadline. */
    private function expire(): void
    {
        $now = microtime(true);
        foreach ($this->pending as $oid => $conn) {
            if ($conn->deadline <= $now) {
                unset($this->pending[$oid]);
                $this->drop($conn);
            }
        }
    }

    /** A connection that gave no request: closed without an answer, a read error in the report. */
    private function drop(Connection $conn): void
    {
        $conn->close();
        $this->books->readError($conn->startTime);
    }

    /** Answers fault 3 requestTooLarge before the body is read, and closes. */
    private function refuse(Connection $conn, TooLargeError $e): void
    {
        $f = $e->fields;
        $packet = Packet::encodeResponse(
            (string) Packet::number($f[Packet::REQUEST_ID] ?? ''),
            $f[Packet::CLIENT_NAME] ?? '',
            $this->serviceName,
            Fault::REQUEST_TOO_LARGE,
            $e->getMessage(),
            ''
        );
        $this->send($conn, [$packet]);
        $conn->close();
        $this->books->refused($conn->startTime);
    }

    private function deadline(float $now): float
    {
        return $this->limits->requestReadTimeout > 0 ? $now + $this->limits->requestReadTimeout : INF;
    }
}
