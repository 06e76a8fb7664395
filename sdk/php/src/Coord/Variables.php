<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** Versioned shared variables held by the manager (values up to 64 KiB). */
final class Variables
{
    public function __construct(private Coord $c)
    {
    }

    /** Stores the value; its new version (1 for the first set). */
    public function set(string $name, string $value, bool $global = false): int
    {
        return (int) $this->c->call($this->c->req('var.set', $name, $global) + ['v' => $value])['V'];
    }

    /**
     * [value, version]; [null, 0] for a variable never set.
     *
     * @return array{0: ?string, 1: int}
     */
    public function get(string $name, bool $global = false): array
    {
        return self::value($this->c->call($this->c->req('var.get', $name, $global)));
    }

    /**
     * Waits until the version differs from $version (0: until it is first
     * set) and returns [value, version] then; throws CoordTimeout when
     * $timeout seconds pass first (null: no limit).
     *
     * @return array{0: ?string, 1: int}
     */
    public function waitForChange(string $name, int $version, ?float $timeout = null, bool $global = false): array
    {
        $f = $this->c->req('var.wait', $name, $global) + ['V' => (string) $version] + Coord::ms($timeout);
        return self::value($this->c->call($f));
    }

    /**
     * @param array<string, string> $r
     * @return array{0: ?string, 1: int}
     */
    private static function value(array $r): array
    {
        $v = (int) ($r['V'] ?? '0');
        return [$v > 0 ? ($r['v'] ?? '') : null, $v];
    }
}
