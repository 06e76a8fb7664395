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

    public function add(int $outcome, int $durationMicros, int $requestBytes, int $responseBytes, string $function): void
    {
        if ($this->fp === null) {
            return;
        }
        if ($this->count === 0) {
            $this->oldest = microtime(true);
        }
        $this->entries .= pack(
            'VVVVa16',
            $outcome,
            min(max($durationMicros, 0), 0xFFFFFFFF),
            min($requestBytes, 0xFFFFFFFF),
            min($responseBytes, 0xFFFFFFFF),
            substr($function, 0, 16)
        );
        if (++$this->count >= self::MAX_ENTRIES) {
            $this->flush();
        }
    }

    /** Seconds until the oldest unsent entry is 1 s old (0 when due), or null when there is none. */
    public function dueIn(): ?float
    {
        if ($this->fp === null || $this->count === 0) {
            return null;
        }
        return max(0.0, $this->oldest + 1.0 - microtime(true));
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
