<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Report records on fd 5 (docs/protocol.md section 5): fixed 528-byte
 * records of up to 16 entries, each written atomically to the pipe the
 * instances of a service share.
 */
final class Reporter
{
    public const VERSION = 1;
    public const RECORD_SIZE = 528;
    public const MAX_ENTRIES = 16;
    public const NO_SLOT = 0xFFFFFFFF;

    public const READ_ERROR = 1;
    public const WRITE_ERROR = 2;
    public const FAULT = 3;
    public const OK = 4;

    /** @var resource|null */
    private $fp;
    private string $entries = '';
    private int $count = 0;
    private float $oldest = 0.0;

    /** @param resource $fp the write end of the report pipe */
    public function __construct($fp, private int $pid, private int $slot)
    {
        stream_set_write_buffer($fp, 0);
        $this->fp = $fp;
    }

    /**
     * Adds one entry; the record goes out when it holds 16.
     *
     * @param float $now the time the request finished (microtime(true))
     */
    public function add(
        int $outcome,
        int $durationMicros,
        int $requestBytes,
        int $responseBytes,
        string $function,
        float $now
    ): void {
        if ($this->fp === null) {
            return;
        }
        if ($this->count === 0) {
            $this->oldest = $now;
        }
        // pack() cuts the function name to 16 bytes; the counts are capped at 2^32-1.
        $this->entries .= pack(
            'VVVVa16',
            $outcome,
            $durationMicros < 0 ? 0 : ($durationMicros > 0xFFFFFFFF ? 0xFFFFFFFF : $durationMicros),
            $requestBytes > 0xFFFFFFFF ? 0xFFFFFFFF : $requestBytes,
            $responseBytes > 0xFFFFFFFF ? 0xFFFFFFFF : $responseBytes,
            $function
        );
        if (++$this->count >= self::MAX_ENTRIES) {
            $this->flush();
        }
    }

    /**
     * Sends the pending entries if the oldest is at least 1 s old: the
     * service calls it when it is about to block waiting for a request.
     */
    public function flushIfDue(float $now): void
    {
        if ($this->count > 0 && $now - $this->oldest >= 1.0) {
            $this->flush();
        }
    }

    /** Writes a record with the pending entries (also with none). */
    public function flush(): void
    {
        if ($this->fp === null) {
            return;
        }
        $rec = pack('VVVV', self::VERSION, $this->pid, $this->slot, $this->count) . $this->entries;
        $rec = str_pad($rec, self::RECORD_SIZE, "\0");
        $this->entries = '';
        $this->count = 0;
        $n = @fwrite($this->fp, $rec);
        if ($n !== self::RECORD_SIZE) {
            // A failed or short write disables reporting for good.
            @fclose($this->fp);
            $this->fp = null;
        }
    }

    public function close(): void
    {
        if ($this->fp !== null) {
            @fclose($this->fp);
            $this->fp = null;
        }
    }

    /**
     * Decodes one record (for tests and tools).
     *
     * @return array{version:int,pid:int,slot:int,entries:list<array{outcome:int,durationMicros:int,requestBytes:int,responseBytes:int,function:string}>}
     */
    public static function decode(string $rec): array
    {
        $h = unpack('Vversion/Vpid/Vslot/Ventries', $rec);
        $out = ['version' => $h['version'], 'pid' => $h['pid'], 'slot' => $h['slot'], 'entries' => []];
        for ($i = 0; $i < min($h['entries'], self::MAX_ENTRIES); $i++) {
            $e = unpack('Voutcome/VdurationMicros/VrequestBytes/VresponseBytes/a16function', $rec, 16 + 32 * $i);
            $e['function'] = rtrim($e['function'], "\0");
            $out['entries'][] = $e;
        }
        return $out;
    }
}
