<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The version of Pluton for Go this SDK belongs to: the "version" that the
 * release tarball stamps into composer.json, or in a source tree the file
 * go/version/VERSION.
 */
final class Version
{
    private static ?string $version = null;

    public static function get(): string
    {
        if (self::$version === null) {
            $root = dirname(__DIR__);
            $v = '';
            $composer = @file_get_contents($root . '/composer.json');
            if (is_string($composer)) {
                $json = json_decode($composer, true);
                $v = is_array($json) && is_string($json['version'] ?? null) ? $json['version'] : '';
            }
            if ($v === '') {
                $file = @file_get_contents(dirname($root, 2) . '/go/version/VERSION');
                $v = is_string($file) ? trim($file) : '';
            }
            self::$version = $v !== '' ? $v : 'unknown';
        }
        return self::$version;
    }
}
