<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Finds service sockets (docs/protocol.md section 7).
 *
 * The lookup location is the explicit one given, else env plutonLookupMap,
 * else the first of `<home>/lookup.map` and
 * `/usr/local/var/pluton/lookup.map` that exists (section 7.1). It is either
 * the lookup map file the manager writes (its `rendezvous` line is read),
 * the original's binary map (detected by content, BinaryMap), or
 * a directory, taken as the rendezvous directory itself. A key resolves to
 * `<R>/<SK>.socket`, else the wildcard `<R>/<App>..<Ver>.<Ser>.socket`.
 *
 * @internal
 */
final class Lookup
{
    public const SYSTEM_LOOKUP_MAP = '/usr/local/var/pluton/lookup.map';
    public const LOOKUP_MAP_VERSION = 3001;

    private ?string $rendezvous = null;
    private string $location = '';

    public function __construct(private ?string $explicit = null)
    {
    }

    /**
     * The home of section 7.1: $plutonHome, else /usr/local/var/pluton for
     * root, else $XDG_STATE_HOME/pluton (default ~/.local/state/pluton).
     */
    public static function home(): string
    {
        $home = getenv('plutonHome');
        if (is_string($home) && $home !== '') {
            return $home;
        }
        if (self::euid() === 0) {
            return '/usr/local/var/pluton';
        }
        $state = getenv('XDG_STATE_HOME');
        if (is_string($state) && $state !== '') {
            return rtrim($state, '/') . '/pluton';
        }
        $user = getenv('HOME');
        if (!is_string($user) || $user === '') {
            $user = function_exists('posix_getpwuid') ? (posix_getpwuid(self::euid())['dir'] ?? '') : '';
        }
        return rtrim((string) $user, '/') . '/.local/state/pluton';
    }

    /**
     * The locations tried, in order: the explicit one, else env
     * plutonLookupMap, else `<home>/lookup.map` and the system map.
     *
     * @return list<string>
     */
    public function candidates(): array
    {
        if ($this->explicit !== null && $this->explicit !== '') {
            return [$this->explicit];
        }
        $env = getenv('plutonLookupMap');
        if (is_string($env) && $env !== '') {
            return [$env];
        }
        return array_values(array_unique([self::home() . '/lookup.map', self::SYSTEM_LOOKUP_MAP]));
    }

    /** The lookup location in use ('' before the rendezvous directory was found). */
    public function location(): string
    {
        return $this->location;
    }

    /**
     * The rendezvous directory, read once.
     *
     * @throws Fault mapInitializationFailed naming every path tried, or the map's own error
     */
    public function rendezvous(): string
    {
        if ($this->rendezvous !== null) {
            return $this->rendezvous;
        }
        $tried = $this->candidates();
        $explicit = count($tried) === 1;
        foreach ($tried as $location) {
            if (!$explicit && !file_exists($location)) {
                continue;
            }
            $dir = self::readRendezvous($location);
            if ($dir instanceof Fault) {
                throw $dir;
            }
            $this->location = $location;
            return $this->rendezvous = $dir;
        }
        throw new Fault(
            Fault::MAP_INITIALIZATION_FAILED,
            'no lookup map at ' . implode(' or ', $tried)
            . ': is plutonManager running? Start it, or set plutonLookupMap or pass the lookup location'
        );
    }

    /**
     * The socket path of a key, or null when neither the exact nor the
     * wildcard socket exists; on a miss the lookup map is read again in case
     * the rendezvous directory changed.
     *
     * @throws Fault as rendezvous()
     */
    public function resolve(ServiceKey $key): ?string
    {
        $this->rendezvous();
        for ($pass = 0; $pass < 2; $pass++) {
            foreach ([(string) $key, $key->wildcard()] as $name) {
                $path = $this->rendezvous . '/' . $name . '.socket';
                if (@filetype($path) === 'socket') {
                    return $path;
                }
            }
            if ($pass === 0 && !$this->refresh()) {
                break;
            }
        }
        return null;
    }

    /** Re-reads the lookup map; true when the rendezvous directory changed. */
    private function refresh(): bool
    {
        if ($this->location === '' || is_dir($this->location)) {
            return false;
        }
        $dir = self::readRendezvous($this->location);
        if ($dir instanceof Fault || $dir === $this->rendezvous) {
            return false;
        }
        $this->rendezvous = $dir;
        return true;
    }

    /** The rendezvous directory of a lookup location, or the fault. */
    private static function readRendezvous(string $location): string|Fault
    {
        if (is_dir($location)) {
            return rtrim($location, '/');
        }
        $text = @file_get_contents($location);
        if ($text === false) {
            $err = preg_replace('/^.*?: /', '', error_get_last()['message'] ?? '');
            return new Fault(
                Fault::MAP_INITIALIZATION_FAILED,
                "no lookup map at $location ($err): is plutonManager running? Start it, "
                . 'or set plutonLookupMap or pass the lookup location'
            );
        }
        if (BinaryMap::isBinary($text)) { // the original's binary map, detected by content
            if (strlen($text) < BinaryMap::HEADER_SIZE) {
                return new Fault(Fault::SHM_IMPOSSIBLY_SMALL, $location . ': ' . strlen($text) . ' bytes');
            }
            try {
                return rtrim((new BinaryMap($text))->rendezvous(), '/');
            } catch (\InvalidArgumentException $e) {
                return new Fault(Fault::MAP_INITIALIZATION_FAILED, "$location: binary lookup map: " . $e->getMessage());
            }
        }
        foreach (explode("\n", $text) as $line) {
            if (
                preg_match('/^# pluton lookup map (\d+)/', $line, $m) === 1
                && (int) $m[1] !== self::LOOKUP_MAP_VERSION
            ) {
                return new Fault(Fault::SHM_VERSION_MISMATCH, $location . ': lookup map version ' . $m[1]);
            }
            if (str_starts_with($line, 'rendezvous ')) {
                $dir = trim(substr($line, 11));
                if ($dir !== '') {
                    return rtrim($dir, '/');
                }
            }
        }
        return new Fault(Fault::MAP_INITIALIZATION_FAILED, $location . ": no 'rendezvous <dir>' line");
    }

    private static function euid(): int
    {
        if (function_exists('posix_geteuid')) {
            return posix_geteuid();
        }
        $status = @file_get_contents('/proc/self/status');
        if (is_string($status) && preg_match('/^Uid:\s+\d+\s+(\d+)/m', $status, $m) === 1) {
            return (int) $m[1];
        }
        return -1;
    }
}
