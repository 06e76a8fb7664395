<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The recorder (docs/protocol.md section 9): every request packet read goes
 * to `<prefix>in.<pid>.<NNNNN>`, its response packet to
 * `<prefix>out.<pid>.<NNNNN>`. The index is incremented for each request and
 * then reduced modulo the cycle when that is not 0, so the first pair is
 * 00001. A file that cannot be written is reported once on stderr and
 * recording stops; it never fails the request.
 *
 * @internal
 */
final class Recorder
{
    private int $index = 0;
    private bool $on = true;

    public function __construct(private string $prefix, private int $cycle, private int $pid)
    {
    }

    /** The index of the current request's files (StatsSegment::NOT_RECORDING when off). */
    public function index(): int
    {
        return $this->on ? $this->index : StatsSegment::NOT_RECORDING;
    }

    /** Records a request packet as read; it gets the next index. */
    public function recordIn(string $packet): void
    {
        if (!$this->on) {
            return;
        }
        $this->index++;
        if ($this->cycle > 0) {
            $this->index %= $this->cycle;
        }
        $this->write('in', $packet);
    }

    /** Records the response packet of the current request. */
    public function recordOut(string $packet): void
    {
        if ($this->on) {
            $this->write('out', $packet);
        }
    }

    private function write(string $which, string $packet): void
    {
        $path = sprintf('%s%s.%d.%05d', $this->prefix, $which, $this->pid, $this->index);
        $fp = @fopen($path, 'wb');
        $ok = $fp !== false && @fwrite($fp, $packet) === strlen($packet);
        if ($fp !== false) {
            $ok = @fclose($fp) && $ok;
        }
        if ($ok) {
            @chmod($path, 0640);
            return;
        }
        $this->on = false;
        $why = preg_replace('/^.*?: /', '', error_get_last()['message'] ?? 'write failed');
        @fwrite(STDERR, "pluton: recorder stopped: cannot write $path: $why\n");
    }
}
