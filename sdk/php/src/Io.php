<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Stream helpers shared by the client and the service.
 *
 * @internal
 */
final class Io
{
    /** The usual read size. */
    public const CHUNK = 262144;
    /** The largest single read, however long a declared payload is. */
    public const MAX_READ = 16777216;

    /**
     * Waits until one of $read is readable or one of $write is writable.
     *
     * @param resource[] $read
     * @param resource[] $write
     * @param float|null $timeout seconds, null for no limit
     * @return int|false the count of ready streams (0 on timeout), false when interrupted (EINTR)
     */
    public static function select(array &$read, array &$write, ?float $timeout): int|false
    {
        $except = null;
        if ($timeout === null) {
            $sec = null;
            $usec = 0;
        } else {
            $timeout = max(0.0, $timeout);
            $sec = (int) $timeout;
            $usec = (int) (($timeout - $sec) * 1000000);
        }
        $r = $read ?: null;
        $w = $write ?: null;
        $n = @stream_select($r, $w, $except, $sec, $usec);
        $read = $r ?? [];
        $write = $w ?? [];
        return $n;
    }

    /**
     * Writes what a non-blocking stream takes now.
     *
     * @param resource $fp
     * @return int|false bytes written (possibly 0), false on error; $errno gets the errno when known
     */
    public static function writeSome($fp, string $data, ?int &$errno = null): int|false
    {
        $errno = 0;
        error_clear_last();
        $n = @fwrite($fp, $data);
        if ($n === false || ($n === 0 && error_get_last() !== null)) {
            $err = error_get_last();
            if ($err !== null && preg_match('/errno=(\d+)/', $err['message'], $m) === 1) {
                $errno = (int) $m[1];
            }
            return false;
        }
        return $n;
    }
}
