<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The service's slot in the stats segment on fd 4 (docs/protocol.md section 4).
 *
 * PHP has no mmap, so the slot is written with fseek + fwrite on an
 * unbuffered stream and read with fseek + fread.
 */
final class StatsSegment
{
    public const MAGIC = 'PLSS';
    public const VERSION = 1;
    public const HEADER_SIZE = 64;
    public const SLOT_SIZE = 64;

    public const STATE_STARTING = 0;
    public const STATE_IDLE = 1;
    public const STATE_BUSY = 2;
    public const STATE_AFFINITY = 3;
    public const STATE_STOPPING = 4;

    public const EXIT_NONE = 0;
    public const EXIT_SERVICE_SHUTDOWN = 1;
    public const EXIT_UNRESPONSIVE = 2;
    public const EXIT_ABNORMAL_EXIT = 3;
    public const EXIT_LOST_IO = 4;
    public const EXIT_RUNAWAY_CHILD = 5;
    public const EXIT_MAX_REQUESTS = 6;
    public const EXIT_EXCESS_PROCESSES = 7;
    public const EXIT_IDLE_TIMEOUT = 8;
    public const EXIT_ACCEPT_FAILED = 9;

    /** @var resource */
    private $fp;
    private int $base;
    private int $state = self::STATE_STARTING;
    private int $since = 0;
    private int $requests = 0;
    private int $responses = 0;
    private int $faults = 0;
    private int $busyMicros = 0;

    /** @param resource $fp */
    private function __construct($fp, int $slot, private int $affinityTimeout, private int $maximumRequests)
    {
        $this->fp = $fp;
        $this->base = self::HEADER_SIZE + $slot * self::SLOT_SIZE;
    }

    /**
     * Opens the segment and checks its header; null when any check fails
     * (the service then runs without stats).
     *
     * @param resource $fp a read-write stream on the segment
     */
    public static function open($fp, int $slot): ?self
    {
        stream_set_write_buffer($fp, 0);
        stream_set_read_buffer($fp, 0);
        if (@fseek($fp, 0) !== 0) {
            return null;
        }
        $h = @fread($fp, self::HEADER_SIZE);
        if (!is_string($h) || strlen($h) < 24) {
            return null;
        }
        $v = unpack('a4magic/Vversion/VheaderSize/VslotSize/VslotCount/VaffinityTimeout', $h);
        if ($v['magic'] !== self::MAGIC || $v['version'] !== self::VERSION
            || $v['headerSize'] !== self::HEADER_SIZE || $v['slotSize'] !== self::SLOT_SIZE
            || $slot < 0 || $slot >= $v['slotCount']
        ) {
            return null;
        }
        $st = @fstat($fp);
        if ($st === false || $st['size'] < self::HEADER_SIZE + ($slot + 1) * self::SLOT_SIZE) {
            return null;
        }
        $segment = new self($fp, $slot, $v['affinityTimeout'], 0);
        // The manager writes the limit before it starts the instance.
        $segment->maximumRequests = $segment->readField(48);
        return $segment;
    }

    public function affinityTimeout(): int
    {
        return $this->affinityTimeout;
    }

    /** This instance's request limit (0 = none). */
    public function maximumRequests(): int
    {
        return $this->maximumRequests;
    }

    /** The exit reason the manager wants (written before it signals), 0 = none. */
    public function shutdownRequest(): int
    {
        return $this->readField(52);
    }

    /** Writes the pid, then state = idle. */
    public function start(int $pid): void
    {
        $this->write(0, pack('V', $pid));
        $this->setState(self::STATE_IDLE);
    }

    /** state and since only (bytes 4-15). */
    public function setState(int $state): void
    {
        $this->state = $state;
        $this->since = self::nowMicros();
        $this->write(4, pack('VP', $state, $this->since));
    }

    /** A request was accepted: state = busy, since = now, requests += 1 (bytes 4-23). */
    public function requestStarted(): void
    {
        $this->state = self::STATE_BUSY;
        $this->since = self::nowMicros();
        $this->requests++;
        $this->write(4, pack('VPP', $this->state, $this->since, $this->requests));
    }

    /**
     * A request is finished (bytes 4-47).
     *
     * @param int $outcome Reporter::OK, FAULT or an error (neither counted)
     */
    public function requestFinished(int $nextState, int $outcome): void
    {
        $now = self::nowMicros();
        if ($this->state === self::STATE_BUSY) {
            $this->busyMicros += max(0, $now - $this->since);
        }
        if ($outcome === Reporter::OK) {
            $this->responses++;
        } elseif ($outcome === Reporter::FAULT) {
            $this->faults++;
        }
        $this->state = $nextState;
        $this->since = $now;
        $this->write(4, pack(
            'VPPPPP',
            $this->state,
            $this->since,
            $this->requests,
            $this->responses,
            $this->faults,
            $this->busyMicros
        ));
    }

    /** A 4-byte field of the slot (0 if it cannot be read). */
    private function readField(int $offset): int
    {
        if (@fseek($this->fp, $this->base + $offset) !== 0) {
            return 0;
        }
        $b = @fread($this->fp, 4);
        return is_string($b) && strlen($b) === 4 ? unpack('V', $b)[1] : 0;
    }

    /** At exit: state = stopping (bytes 4-15) and the exit reason (offset 56). */
    public function stop(int $exitReason): void
    {
        $this->setState(self::STATE_STOPPING);
        $this->write(56, pack('V', $exitReason));
    }

    public function close(): void
    {
        @fclose($this->fp);
    }

    private function write(int $offset, string $bytes): void
    {
        if (@fseek($this->fp, $this->base + $offset) === 0) {
            @fwrite($this->fp, $bytes);
        }
    }

    public static function nowMicros(): int
    {
        [$usec, $sec] = explode(' ', microtime());
        return (int) $sec * 1000000 + (int) round((float) $usec * 1000000);
    }
}
