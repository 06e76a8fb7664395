<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A service key `Application.Function.Version.Serialization` (docs/protocol.md section 2).
 */
final class ServiceKey
{
    public const SERIALIZATIONS = ['COBOL', 'HTML', 'JMS', 'JSON', 'NETSTRING', 'PHP', 'SOAP', 'XML', 'raw'];

    /** Serialization codes as the original returns them (the char code of the enum). */
    public const SERIALIZATION_UNKNOWN = 63; // '?'
    public const SERIALIZATION_COBOL = 99;   // 'c'
    public const SERIALIZATION_HTML = 104;   // 'h'
    public const SERIALIZATION_JMS = 109;    // 'm'
    public const SERIALIZATION_JSON = 106;   // 'j'
    public const SERIALIZATION_NETSTRING = 110; // 'n'
    public const SERIALIZATION_PHP = 112;    // 'p'
    public const SERIALIZATION_SOAP = 115;   // 's'
    public const SERIALIZATION_XML = 120;    // 'x'
    public const SERIALIZATION_RAW = 114;    // 'r'

    private const CODES = [
        'COBOL' => self::SERIALIZATION_COBOL, 'HTML' => self::SERIALIZATION_HTML,
        'JMS' => self::SERIALIZATION_JMS, 'JSON' => self::SERIALIZATION_JSON,
        'NETSTRING' => self::SERIALIZATION_NETSTRING, 'PHP' => self::SERIALIZATION_PHP,
        'SOAP' => self::SERIALIZATION_SOAP, 'XML' => self::SERIALIZATION_XML,
        'raw' => self::SERIALIZATION_RAW,
    ];

    private function __construct(
        public readonly string $application,
        public readonly string $function,
        public readonly string $version,
        public readonly string $serialization
    ) {
    }

    /**
     * Parses and checks a key; a client key needs a non-empty function, a
     * config (wildcard) key may leave it empty.
     *
     * @throws \InvalidArgumentException with the original's error text
     */
    public static function parse(string $key, bool $clientKey = true): self
    {
        $parts = explode('.', $key);
        if (count($parts) < 4) {
            throw new \InvalidArgumentException('need four dot-separated tokens');
        }
        if (count($parts) > 4) {
            throw new \InvalidArgumentException('more than four dot-separated tokens');
        }
        foreach ($parts as $part) {
            if (str_contains($part, '/')) {
                throw new \InvalidArgumentException("contains '/'");
            }
            if (str_contains($part, "\0")) {
                throw new \InvalidArgumentException('contains a NUL byte');
            }
        }
        [$app, $func, $ver, $ser] = $parts;
        if (strlen($app) < 1 || strlen($app) > 32) {
            throw new \InvalidArgumentException('Application Name length is not in the range 1-32 characters');
        }
        if ($func === '' && $clientKey) {
            throw new \InvalidArgumentException('Service Function is zero length');
        }
        if (strlen($func) > 32) {
            throw new \InvalidArgumentException('Service Function length is greater than 32 characters');
        }
        if (strlen($ver) < 1 || strlen($ver) > 6) {
            throw new \InvalidArgumentException('Service Version length is not in the range 1-6 characters');
        }
        // The leading zero first, as the original (so 0x1 has a leading zero).
        if ($ver[0] === '0' && $ver !== '0') {
            throw new \InvalidArgumentException('version has ambiguous leading zero');
        }
        if (strspn($ver, '0123456789') !== strlen($ver)) {
            throw new \InvalidArgumentException('version is not a positive integer');
        }
        if ($ser === '') {
            throw new \InvalidArgumentException('serialization is zero length');
        }
        if (!isset(self::CODES[$ser])) {
            throw new \InvalidArgumentException('serialization type is unrecognized');
        }
        return new self($app, $func, $ver, $ser);
    }

    /**
     * Splits a key without checking it (what a service does with the key it
     * was sent): missing parts are empty.
     */
    public static function split(string $key): self
    {
        $p = explode('.', $key, 4) + ['', '', '', ''];
        return new self($p[0], $p[1], $p[2], $p[3]);
    }

    /** The application, e.g. `system`. */
    public function application(): string
    {
        return $this->application;
    }

    /** The function, e.g. `echo` (empty only in a wildcard config key). */
    public function function(): string
    {
        return $this->function;
    }

    /** The version as a number (0 when it is not one). */
    public function version(): int
    {
        return (int) $this->version;
    }

    /** The serialization's name, e.g. `raw`. */
    public function serialization(): string
    {
        return $this->serialization;
    }

    public function __toString(): string
    {
        return $this->application . '.' . $this->function . '.' . $this->version . '.' . $this->serialization;
    }

    /** The wildcard key that serves this key's function: `App..Ver.Ser`. */
    public function wildcard(): string
    {
        return $this->application . '..' . $this->version . '.' . $this->serialization;
    }

    public function serializationCode(): int
    {
        return self::CODES[$this->serialization] ?? self::SERIALIZATION_UNKNOWN;
    }
}
