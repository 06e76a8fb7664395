<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The service's slot in the stats segment on fd 4, version 2
 * (docs/protocol.md section 4), and the limits its header carries.
 *
 * With ext-ffi the segment is mapped shared, as the Go SDK does, and an
 * update is a few stores into the slot. Without it, each update is one
 * fwrite (plus an fseek when the file offset is elsewhere) on a private
 * open file description of the segment.
 *
 * @internal
 */
final class StatsSegment
{
    public const MAGIC = 'PLSS';
    public const VERSION = 2;
    public const HEADER_SIZE = 320;
    public const SLOT_SIZE = 192;
    public const CLIENT_NAME_SIZE = 112;
    public const NOT_RECORDING = 0xFFFFFFFF;

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

    /** The slot (section 4.2) in C, for the mapping. */
    private const C_SLOT = '
        typedef struct {
            uint32_t pid, state;
            uint64_t since, requests, responses, faults, busyMicros;
            uint32_t maximumRequests, shutdownRequest, exitReason, reserved;
            uint64_t requestID;
            uint32_t recorderIndex, clientNameLength;
            char clientName[112];
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

    /** @param array<string,int|string> $header the decoded header */
    private function __construct(int $slot, private array $header)
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
        if (!is_string($h) || strlen($h) < self::HEADER_SIZE || $st === false) {
            fclose($fp);
            return null;
        }
        $v = unpack(
            'a4magic/Vversion/VheaderSize/VslotSize/VslotCount/VaffinityTimeout/VrecorderCycle/'
            . 'VmaximumRequestSize/VrequestReadTimeout/VmaximumPending/VthreadsPerInstance',
            $h
        );
        if (
            $v['magic'] !== self::MAGIC || $v['version'] !== self::VERSION
            || $v['headerSize'] !== self::HEADER_SIZE || $v['slotSize'] !== self::SLOT_SIZE
            || $slot < 0 || $slot >= $v['slotCount']
            || $st['size'] < self::HEADER_SIZE + ($slot + 1) * self::SLOT_SIZE
        ) {
            fclose($fp);
            return null;
        }
        $prefix = substr($h, 64, 256);
        $nul = strpos($prefix, "\0");
        $v['recorderPrefix'] = $nul === false ? $prefix : substr($prefix, 0, $nul);
        $segment = new self($slot, $v);
        if ($segment->map($fd, $slot)) {
            fclose($fp);
        } else {
            $segment->fp = $fp;
        }
        // The manager writes the limit before it starts the instance.
        $segment->maximumRequests = $segment->readField('maximumRequests', 48);
        return $segment;
    }

    /** Seconds a kept (affinity) connection may wait for its next request. */
    public function affinityTimeout(): int
    {
        return (int) $this->header['affinityTimeout'];
    }

    /** The recorder's index cycle (0 = unbounded). */
    public function recorderCycle(): int
    {
        return (int) $this->header['recorderCycle'];
    }

    /** Largest netstring length a request may declare (0 = no limit). */
    public function maximumRequestSize(): int
    {
        return (int) $this->header['maximumRequestSize'];
    }

    /** Milliseconds within which a request must be read (0 = no limit). */
    public function requestReadTimeout(): int
    {
        return (int) $this->header['requestReadTimeout'];
    }

    /** Accepted connections held while incomplete (0 = the SDK default). */
    public function maximumPending(): int
    {
        return (int) $this->header['maximumPending'];
    }

    /**
     * Requests an instance is configured to serve at once (`maximum-threads`;
     * 0 is read as 1). The PHP SDK serves one at a time and refuses more.
     */
    public function threadsPerInstance(): int
    {
        return max(1, (int) $this->header['threadsPerInstance']);
    }

    /** The recorder's file prefix; '' = recorder off. */
    public function recorderPrefix(): string
    {
        return (string) $this->header['recorderPrefix'];
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

    /** The slot's state as last written. */
    public function state(): int
    {
        return $this->state;
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
            $this->slot->recorderIndex = self::NOT_RECORDING;
        } else {
            $this->write(0, pack('V', $pid));
            $this->write(72, pack('V', self::NOT_RECORDING));
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

    /**
     * A request is handed to the service's code: state = busy, since = now,
     * requests += 1 (bytes 4-23), and its identity (bytes 64 to 80 + the
     * client name's length).
     */
    public function requestStarted(int $nowMicros, int $requestId, string $clientName, int $recorderIndex): void
    {
        $this->state = self::STATE_BUSY;
        $this->since = $nowMicros;
        $this->requests++;
        if (strlen($clientName) > self::CLIENT_NAME_SIZE) {
            $clientName = substr($clientName, 0, self::CLIENT_NAME_SIZE);
        }
        $len = strlen($clientName);
        $s = $this->slot;
        if ($s !== null) {
            $s->state = self::STATE_BUSY;
            $s->since = $nowMicros;
            $s->requests = $this->requests;
            $s->requestID = $requestId;
            $s->recorderIndex = $recorderIndex;
            $s->clientNameLength = $len;
            if ($len > 0) {
                \FFI::memcpy($s->clientName, $clientName, $len);
            }
        } else {
            $this->write(4, pack('VPP', self::STATE_BUSY, $nowMicros, $this->requests));
            $this->write(64, pack('PVV', $requestId, $recorderIndex, $len) . $clientName);
        }
    }

    /**
     * A request was answered (response or fault written): the counters and
     * busyMicros (bytes 16-47). The state stays busy until the next wait.
     *
     * @param int $outcome Reporter::OK, FAULT or an error (neither counted)
     */
    public function requestAnswered(int $outcome, int $nowMicros): void
    {
        if ($this->state === self::STATE_BUSY && $nowMicros > $this->since) {
            $this->busyMicros += $nowMicros - $this->since;
            $this->since = $nowMicros; // busy time is counted once
        }
        $this->count($outcome);
    }

    /**
     * A request refused before its body was read (request too large): a
     * request answered with a fault, requests and faults += 1.
     */
    public function refused(): void
    {
        $this->requests++;
        $this->count(Reporter::FAULT);
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

    private function count(int $outcome): void
    {
        if ($outcome === Reporter::OK) {
            $this->responses++;
        } elseif ($outcome === Reporter::FAULT) {
            $this->faults++;
        }
        $s = $this->slot;
        if ($s !== null) {
            $s->requests = $this->requests;
            $s->responses = $this->responses;
            $s->faults = $this->faults;
            $s->busyMicros = $this->busyMicros;
        } else {
            $this->write(16, pack('PPPP', $this->requests, $this->responses, $this->faults, $this->busyMicros));
        }
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
            if ($p === null || \FFI::cast('intptr_t', $p)->cdata === -1) { // MAP_FAILED
                return false;
            }
            $bytes = \FFI::cast('char *', $p);
            $this->slot = $ffi->cast('pluton_slot *', $bytes + $this->base)[0];
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
