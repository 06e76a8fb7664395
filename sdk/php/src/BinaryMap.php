<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The original Pluton's binary lookup map (version 1001, docs/protocol.md
 * section 7.2): written by an original manager, or by plutonManager
 * (`<L>.bin` by default, at `-L` with `--lookup-format binary`). Native byte
 * order: u32 version @0, remap flag @4, u32 hashTableSize @8,
 * maximumEntryIndex @12, mapSize @16, entryBaseOffset @20, stringBaseOffset
 * @24, u32 buckets @28; 20-byte entries (keyOffset, keyLength, valueOffset,
 * valueLength, nextIndex; index 0 = none); then the strings. The entry
 * `/rendezvous` names the rendezvous directory.
 */
final class BinaryMap
{
    public const VERSION = 1001;
    public const HEADER_SIZE = 32;
    public const ENTRY_SIZE = 20;
    public const RENDEZVOUS_KEY = '/rendezvous';

    private int $table;
    private int $size;
    private int $entryBase;
    private int $stringBase;
    private int $last;
    public readonly bool $stale;

    /** Whether $data starts with the binary map's version. */
    public static function isBinary(string $data): bool
    {
        return strlen($data) >= 4 && unpack('L', $data)[1] === self::VERSION;
    }

    /** The original's hash: h += h << 5; h ^= c, unsigned 32-bit. */
    public static function hash(string $key): int
    {
        $h = 0;
        $n = strlen($key);
        for ($i = 0; $i < $n; $i++) {
            $h = (($h + ($h << 5)) & 0xFFFFFFFF) ^ ord($key[$i]);
        }
        return $h;
    }

    /** @throws \InvalidArgumentException naming the header field that does not fit */
    public function __construct(private string $data)
    {
        if (!self::isBinary($data)) {
            throw new \InvalidArgumentException('not a binary lookup map');
        }
        $len = strlen($data);
        if ($len < self::HEADER_SIZE) {
            throw new \InvalidArgumentException("$len bytes, less than the 32-byte header");
        }
        $h = unpack('Lversion/Cflag/x3/Ltable/Lmax/Lsize/Lentry/Lstring', $data);
        $this->table = $h['table'];
        $this->size = $h['size'];
        $this->entryBase = $h['entry'];
        $this->stringBase = $h['string'];
        if ($this->table === 0) {
            throw new \InvalidArgumentException('hashTableSize is 0');
        }
        if (self::HEADER_SIZE - 4 + 4 * $this->table > $len) {
            throw new \InvalidArgumentException("hashTableSize {$this->table} does not fit in $len bytes");
        }
        if ($this->size > $len) {
            throw new \InvalidArgumentException("mapSize {$this->size} is more than the file's $len bytes");
        }
        if ($this->entryBase > $this->size || $this->stringBase > $this->size) {
            throw new \InvalidArgumentException("entry or string base beyond mapSize {$this->size}");
        }
        $this->stale = $h['flag'] !== ord('n');
        $last = $h['max'];
        if ($this->stringBase >= $this->entryBase) {
            $last = min($last, max(0, intdiv($this->stringBase - $this->entryBase, self::ENTRY_SIZE) - 1));
        }
        $this->last = $last;
    }

    /** @return array{0: string, 1: string, 2: int}|null key, value, next index */
    private function entry(int $idx): ?array
    {
        if ($idx === 0 || $idx > $this->last) {
            return null;
        }
        $at = $this->entryBase + self::ENTRY_SIZE * $idx;
        if ($at + self::ENTRY_SIZE > $this->size) {
            return null;
        }
        $e = unpack('lko/lkl/lvo/lvl/Lnext', $this->data, $at);
        $out = [];
        foreach ([[$e['ko'], $e['kl']], [$e['vo'], $e['vl']]] as [$off, $n]) {
            $start = $this->stringBase + $off;
            if ($off < 0 || $n < 0 || $start + $n > $this->size) {
                return null;
            }
            $out[] = substr($this->data, $start, $n);
        }
        return [$out[0], $out[1], $e['next']];
    }

    /** The value of exactly $key, or null. */
    public function get(string $key): ?string
    {
        $idx = unpack('L', $this->data, self::HEADER_SIZE - 4 + 4 * (self::hash($key) % $this->table))[1];
        for ($steps = 0; $steps <= $this->last; $steps++) {
            $e = $this->entry($idx);
            if ($e === null) {
                return null;
            }
            if ($e[0] === $key) {
                return $e[1];
            }
            $idx = $e[2];
        }
        return null;
    }

    /**
     * The original's lookup: $key, else $key less its last ".component",
     * and so on.
     *
     * @return array{0: string, 1: string}|null value and the key matched
     */
    public function find(string $key): ?array
    {
        for ($k = $key; $k !== '';) {
            $v = $this->get($k);
            if ($v !== null) {
                return [$v, $k];
            }
            $i = strrpos($k, '.');
            if ($i === false) {
                break;
            }
            $k = substr($k, 0, $i);
        }
        return null;
    }

    /** @return array<string, string> every entry */
    public function entries(): array
    {
        $out = [];
        for ($idx = 1; $idx <= $this->last; $idx++) {
            $e = $this->entry($idx);
            if ($e !== null && $e[0] !== '') {
                $out[$e[0]] = $e[1];
            }
        }
        return $out;
    }

    /**
     * The rendezvous directory: the `/rendezvous` entry, else the directory
     * of the first socket (a map written by the original).
     *
     * @throws \InvalidArgumentException when the map names neither
     */
    public function rendezvous(): string
    {
        $v = $this->get(self::RENDEZVOUS_KEY);
        if ($v !== null && $v !== '') {
            return $v;
        }
        for ($idx = 1; $idx <= $this->last; $idx++) {
            $e = $this->entry($idx);
            if ($e !== null && str_ends_with($e[1], '.socket')) {
                return dirname($e[1]);
            }
        }
        throw new \InvalidArgumentException('binary lookup map names no rendezvous directory and no service');
    }
}
