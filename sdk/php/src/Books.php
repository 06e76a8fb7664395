<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The service's bookkeeping in manager mode: the stats slot (fd 4), the
 * report records (fd 5) and the recorder. Every part is optional; outside
 * manager mode the books are empty and cost nothing.
 *
 * @internal
 */
final class Books
{
    public function __construct(
        private ?StatsSegment $stats = null,
        private ?Reporter $reporter = null,
        private ?Recorder $recorder = null
    ) {
    }

    public function stats(): ?StatsSegment
    {
        return $this->stats;
    }

    /** True when request packets must be kept whole (for the recorder). */
    public function recording(): bool
    {
        return $this->recorder !== null;
    }

    /** Marks the slot ready (state idle), once the stop signal is handled. */
    public function started(int $pid): void
    {
        $this->stats?->start($pid);
    }

    /**
     * The instance is about to wait (for a connection, or for the next
     * request of an affinity connection): state idle or affinity, and the
     * reports go out if the oldest pending entry is 1 s old.
     */
    public function waiting(int $state): void
    {
        if ($this->stats !== null && $this->stats->state() !== $state) {
            $this->stats->setState($state, StatsSegment::nowMicros());
        }
        $this->reporter?->flushIfDue(microtime(true));
    }

    /** A complete request is handed to the service's code. */
    public function requestRead(Incoming $in): void
    {
        $this->recorder?->recordIn($in->raw);
        $this->stats?->requestStarted(
            StatsSegment::nowMicros(),
            Packet::number($in->fields[Packet::REQUEST_ID] ?? ''),
            $in->fields[Packet::CLIENT_NAME] ?? '',
            $this->recorder?->index() ?? StatsSegment::NOT_RECORDING
        );
    }

    /** The response packet of the current request, recorded before it is sent. */
    public function responding(string $packet): void
    {
        $this->recorder?->recordOut($packet);
    }

    /**
     * The request was answered (written, or not sent for noWait).
     *
     * @param int $outcome Reporter::OK, FAULT or WRITE_ERROR
     */
    public function answered(Incoming $in, int $outcome, int $responseBytes): void
    {
        $now = microtime(true);
        $this->reporter?->add(
            $outcome,
            (int) (($now - $in->startTime) * 1000000),
            strlen($in->fields[Packet::REQUEST_DATA] ?? ''),
            $responseBytes,
            $in->key?->function ?? '',
            $now
        );
        $this->stats?->requestAnswered($outcome, (int) ($now * 1000000));
    }

    /** A connection that gave no request (EOF, a bad packet, a read timeout). */
    public function readError(float $startTime): void
    {
        $now = microtime(true);
        $this->reporter?->add(Reporter::READ_ERROR, (int) (($now - $startTime) * 1000000), 0, 0, '', $now);
    }

    /**
     * A request refused before its body was read (requestTooLarge): a
     * request answered with a fault, reported with no bytes and no function.
     */
    public function refused(float $startTime): void
    {
        $now = microtime(true);
        $this->reporter?->add(Reporter::FAULT, (int) (($now - $startTime) * 1000000), 0, 0, '', $now);
        $this->stats?->refused();
    }

    /** At exit: state stopping with the exit reason, and the final report. */
    public function close(int $exitReason): void
    {
        if ($this->stats !== null) {
            $this->stats->stop($exitReason);
            $this->stats->close();
            $this->stats = null;
        }
        if ($this->reporter !== null) {
            $this->reporter->flush();
            $this->reporter->close();
            $this->reporter = null;
        }
        $this->recorder = null;
    }
}
