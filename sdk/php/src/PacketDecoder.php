<?php

declare(strict_types=1);

namespace Pluton;

/**
 * An incremental packet decoder (docs/protocol.md section 1.2).
 *
 * feed() appends bytes; next() returns the next complete packet as
 * type => payload, or null when more bytes are needed. Bytes after a `z`
 * stay buffered for the next packet.
 */
final class PacketDecoder
{
    private string $buf = '';
    private int $pos = 0;
    /** @var array<string,string> */
    private array $fields = [];
    private string $lastRaw = '';

    /**
     * @param string $wanted  the packet type expected first: Packet::REQUEST or Packet::RESPONSE
     * @param bool   $keepRaw keep each packet's raw bytes for lastRaw() (packet tracing)
     * @param bool   $checkKey reject a request whose service key fails the client rules (services do)
     */
    public function __construct(private string $wanted, private bool $keepRaw = false, private bool $checkKey = false)
    {
    }

    public function feed(string $bytes): void
    {
        $this->buf .= $bytes;
    }

    /** True when bytes of an unfinished packet are buffered. */
    public function hasPartial(): bool
    {
        return $this->buf !== '';
    }

    /**
     * How many bytes to read next: enough for the rest of a netstring whose
     * length is known (so a large payload arrives in few reads), at least
     * Io::CHUNK and at most Io::MAX_READ.
     */
    public function readSize(): int
    {
        $len = strlen($this->buf);
        $digits = strspn($this->buf, '0123456789', $this->pos, 10);
        if ($digits === 0 || $this->pos + $digits >= $len) {
            return Io::CHUNK;
        }
        $need = $this->pos + $digits + 1 + (int) substr($this->buf, $this->pos, $digits) + 1 - $len;
        return min(max($need, Io::CHUNK), Io::MAX_READ);
    }

    /** The raw bytes of the packet next() returned last, when keepRaw is set. */
    public function lastRaw(): string
    {
        return $this->lastRaw;
    }

    /**
     * @return array<string,string>|null
     * @throws ProtocolError
     */
    public function next(): ?array
    {
        while (true) {
            $ns = Packet::parseNetString($this->buf, $this->pos);
            if ($ns === null) {
                return null;
            }
            [$type, $payload, $next] = $ns;
            if ($this->fields === []) {
                if ($type !== $this->wanted) {
                    throw new ProtocolError(
                        'Unexpected netString type. Wanted: ' . Packet::typeName($this->wanted)
                        . ", but got: '" . $type . "' (" . Packet::typeName($type) . ')',
                        false
                    );
                }
            } elseif (ord($type) >= 123) {
                throw new ProtocolError("Out-of-range netString type: '" . $type . "'", false);
            } elseif (isset($this->fields[$type])) {
                throw new ProtocolError("Duplicate netString type of '" . $type . "'", false);
            }
            $this->fields[$type] = $payload;
            if ($type === Packet::END) {
                $packet = $this->fields;
                if ($this->keepRaw) {
                    $this->lastRaw = substr($this->buf, 0, $next);
                }
                $this->fields = [];
                $this->buf = (string) substr($this->buf, $next);
                $this->pos = 0;
                if ($this->checkKey) {
                    // As the original: a request whose key fails the client rules is malformed.
                    try {
                        ServiceKey::parse($packet[Packet::SERVICE_KEY] ?? '');
                    } catch (\InvalidArgumentException $e) {
                        throw new ProtocolError('Invalid Service Key: ' . $e->getMessage(), false);
                    }
                }
                return $packet;
            }
            // Only whole netstrings are consumed; pos stays at the first unparsed one.
            $this->pos = $next;
        }
    }
}
