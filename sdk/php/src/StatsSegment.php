<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The service's slot in the stats segment on fd 4 (docs/protocol.md section 4).
 *
 * With ext-ffi the segment is mapped shared, as the Go SDK does, and an
 * update is a few stores into the slot. Without it, each update is one
 * fwrite (plus an fseek when the file offset is elsewhere) on a private
 * open file description of the segment.
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

    /** The slot (section 4.2) in C, for the mapping; the header is as long as a slot. */
    private const C_SLOT = '
        typedef struct {
            uint32_t pid, state;
            uint64_t since, requests, responses, faults, busyMicros;
            uint32_t maximumRequests, shutdownRequest, exitReason, reserved;
        } pluton_slot;
        void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);';

    /** The FFI scope of the mapped slot's type (it must outlive the slot). */
    private ?\FFI $ffi = null;
    /** The slot in a shared mapping of the segment (ext-ffi). */
    private ?\FFI\CData $slot = null;
    /** @var resource|null the segment file, when it is not mapped */
    private $fp = null;
    /** The slot's offset in the file. */
    private int $base;
    /** The file offset of $fp, -1 when unknown: a write where it already is needs no seek. */
    private int $offset = -1;

    private int $state = self::STATE_STARTING;
    private int $since = 0;
    private int $requests = 0;
    private int $responses = 0;
    private int $faults = 0;
    private int $busyMicros = 0;
    private int $maximumRequests = 0;

    private function __construct(int $slot, private int $affinityTimeout)
    {
        $this->base = self::HEADER_SIZE + $slot * self::SLOT_SIZE;
    }

    /**
     * Opens the segment on descriptor $fd and checks its header; null when
     * any check fails (the service then runs without stats).
     */
    public static function open(int $fd, int $slot): ?self
    {
        // fd 4 is one open file description shared by every instance, and so is its
        // file offset: reopen it for an offset of our own (needed by fseek + fwrite).
        $fp = @fopen('/proc/self/fd/' . $fd, 'r+b') ?: @fopen('php://fd/' . $fd, 'r+b');
        if ($fp === false) {
            return null;
        }
        stream_set_write_buffer($fp, 0);
        stream_set_read_buffer($fp, 0);
        $h = @fseek($fp, 0) === 0 ? @fread($fp, self::HEADER_SIZE) : false;
        $st = @fstat($fp);
        if (!is_string($h) || strlen($h) < 24 || $st === false) {
            fclose($fp);
            return null;
        }
        $v = unpack('a4magic/Vversion/VheaderSize/VslotSize/VslotCount/VaffinityTimeout', $h);
        if ($v['magic'] !== self::MAGIC || $v['version'] !== self::VERSION
            || $v['headerSize'] !== self::HEADER_SIZE || $v['slotSize'] !== self::SLOT_SIZE
            || $slot < 0 || $slot >= $v['slotCount']
            || $st['size'] < self::HEADER_SIZE + ($slot + 1) * self::SLOT_SIZE
        ) {
            fclose($fp);
            return null;
        }
        $segment = new self($slot, $v['affinityTimeout']);
        if ($segment->map($fd, $slot)) {
            fclose($fp);
        } else {
            $segment->fp = $fp;
        }
        // The manager writes the limit before it starts the instance.
        $segment->maximumRequests = $segment->readField('maximumRequests', 48);
        return $segment;
    }

    public function affinityTimeout(): int
    {
        return $this->affinityTimeout;
    }

    /** This instance's request limit (0 = none), as the manager set it before the start. */
    public function maximumRequests(): int
    {
        return $this->maximumRequests;
    }

    /** True when the slot is written through a shared mapping (ext-ffi). */
    public function isMapped(): bool
    {
        return $this->slot !== null;
    }

    /** The exit reason the manager wants (written before it signals), 0 = none. */
    public function shutdownRequest(): int
    {
        return $this->readField('shutdownRequest', 52);
    }

    /** Writes the pid, then state = idle. */
    public function start(int $pid): void
    {
        if ($this->slot !== null) {
            $this->slot->pid = $pid;
        } else {
            $this->write(0, pack('V', $pid));
        }
        $this->setState(self::STATE_IDLE, self::nowMicros());
    }

    /** state and since only (bytes 4-15). */
    public function setState(int $state, int $nowMicros): void
    {
        $this->state = $state;
        $this->since = $nowMicros;
        if ($this->slot !== null) {
            $this->slot->state = $state;
            $this->slot->since = $nowMicros;
        } else {
            $this->write(4, pack('VP', $state, $nowMicros));
        }
    }

    /** A request was accepted: state = busy, since = now, requests += 1 (bytes 4-23). */
    public function requestStarted(int $nowMicros): void
    {
        $this->state = self::STATE_BUSY;
        $this->since = $nowMicros;
        $this->requests++;
        $s = $this->slot;
        if ($s !== null) {
            $s->state = self::STATE_BUSY;
            $s->since = $nowMicros;
            $s->requests = $this->requests;
        } else {
            $this->write(4, pack('VPP', self::STATE_BUSY, $nowMicros, $this->requests));
        }
    }

    /**
     * A request is finished (bytes 4-47).
     *
     * @param int $outcome Reporter::OK, FAULT or an error (neither counted)
     */
    public function requestFinished(int $nextState, int $outcome, int $nowMicros): void
    {
        if ($this->state === self::STATE_BUSY && $nowMicros > $this->since) {
            $this->busyMicros += $nowMicros - $this->since;
        }
        if ($outcome === Reporter::OK) {
            $this->responses++;
        } elseif ($outcome === Reporter::FAULT) {
            $this->faults++;
        }
        $this->state = $nextState;
        $this->since = $nowMicros;
        $s = $this->slot;
        if ($s !== null) {
            $s->state = $nextState;
            $s->since = $nowMicros;
            $s->requests = $this->requests;
            $s->responses = $this->responses;
            $s->faults = $this->faults;
            $s->busyMicros = $this->busyMicros;
        } else {
            $this->write(4, pack(
                'VPPPPP',
                $nextState,
                $nowMicros,
                $this->requests,
                $this->responses,
                $this->faults,
                $this->busyMicros
            ));
        }
    }

    /** At exit: state = stopping (bytes 4-15) and the exit reason (offset 56). */
    public function stop(int $exitReason): void
    {
        $this->setState(self::STATE_STOPPING, self::nowMicros());
        if ($this->slot !== null) {
            $this->slot->exitReason = $exitReason;
        } else {
            $this->write(56, pack('V', $exitReason));
        }
    }

    public function close(): void
    {
        if ($this->fp !== null) {
            @fclose($this->fp);
            $this->fp = null;
        }
        $this->slot = null; // the mapping itself lasts as long as the process
    }

    /** Unix time in microseconds. */
    public static function nowMicros(): int
    {
        return (int) (microtime(true) * 1000000);
    }

    /**
     * Maps the segment shared and points $slot at slot number $n; false
     * without ext-ffi (or where it is disabled), on a big-endian host (the
     * segment is little-endian) or when mmap fails.
     */
    private function map(int $fd, int $n): bool
    {
        if (!extension_loaded('ffi') || pack('L', 1) !== pack('V', 1)) {
            return false;
        }
        try {
            $ffi = \FFI::cdef(self::C_SLOT);
            $length = self::HEADER_SIZE + ($n + 1) * self::SLOT_SIZE;
            $p = $ffi->mmap(null, $length, 3 /* PROT_READ|PROT_WRITE */, 1 /* MAP_SHARED */, $fd, 0);
            if ($p == $ffi->cast('void *', -1)) { // MAP_FAILED
                return false;
            }
            $this->slot = $ffi->cast('pluton_slot *', $p)[1 + $n];
            $this->ffi = $ffi;
            return true;
        } catch (\FFI\Exception) {
            return false;
        }
    }

    /** A 4-byte field of the slot, named $field in the mapping, at $offset in the file (0 if it cannot be read). */
    private function readField(string $field, int $offset): int
    {
        if ($this->slot !== null) {
            return $this->slot->{$field};
        }
        $b = $this->seek($offset) ? @fread($this->fp, 4) : false;
        if (!is_string($b) || strlen($b) !== 4) {
            $this->offset = -1;
            return 0;
        }
        $this->offset += 4;
        return unpack('V', $b)[1];
    }

    /** Writes $bytes at $offset in the slot: one fwrite, and an fseek first if the offset must move. */
    private function write(int $offset, string $bytes): void
    {
        if ($this->fp !== null && $this->seek($offset) && @fwrite($this->fp, $bytes) === strlen($bytes)) {
            $this->offset += strlen($bytes);
        } else {
            $this->offset = -1;
        }
    }

    /** Moves the file offset to $offset in the slot unless it is there already. */
    private function seek(int $offset): bool
    {
        $at = $this->base + $offset;
        if ($this->offset === $at) {
            return true;
        }
        if (@fseek($this->fp, $at) !== 0) {
            $this->offset = -1;
            return false;
        }
        $this->offset = $at;
        return true;
    }
}
