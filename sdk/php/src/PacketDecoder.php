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
    /**
     * A payload at least this long that is not whole in the buffer is
     * collected apart: its parts are kept as read and joined once (no copy
     * when it arrives in one read), instead of growing the buffer.
     */
    public const LARGE_PAYLOAD = 65536;

    private const DIGITS = '0123456789';

    private string $buf = '';
    /** Where the first netstring not yet consumed starts. */
    private int $pos = 0;
    /** @var array<string,string> the fields of the packet being read */
    private array $fields = [];
    /** The packet's first netstring (its type) has been read. */
    private bool $started = false;
    private string $lastRaw = '';
    /** @var list<string> the parts read so far of a large payload being collected */
    private array $parts = [];
    /** Bytes of the collected payload still to come (0: whole, or none collected). */
    private int $partNeed = 0;
    /** The type of the netstring whose payload is collected; '' when none is. */
    private string $partType = '';
    /** The last service key that passed the check, and its parts. */
    private ?string $keyText = null;
    private ?ServiceKey $key = null;

    /**
     * @param string $wanted  the packet type expected first: Packet::REQUEST or Packet::RESPONSE
     * @param bool   $keepRaw keep each packet's raw bytes for lastRaw() (packet tracing)
     * @param bool   $checkKey reject a request whose service key fails the client rules (services do)
     * @param int    $maximumSize the largest netstring length accepted (0 = no limit): a longer
     *                            length prefix throws TooLargeError as soon as it is read
     */
    public function __construct(
        private string $wanted,
        private bool $keepRaw = false,
        private bool $checkKey = false,
        private int $maximumSize = 0
    ) {
    }

    public function feed(string $bytes): void
    {
        if ($this->partNeed > 0) {
            $k = strlen($bytes);
            if ($k <= $this->partNeed) {
                $this->parts[] = $bytes;
                $this->partNeed -= $k;
                return;
            }
            $this->parts[] = substr($bytes, 0, $this->partNeed);
            $bytes = substr($bytes, $this->partNeed);
            $this->partNeed = 0;
        }
        $this->buf .= $bytes;
    }

    /**
     * The length of a read that would give the rest of a large payload in
     * one string, used as it is: the payload's length when none of it has
     * been read yet, else 0.
     */
    public function wholePayloadWanted(): int
    {
        return $this->parts === [] ? $this->partNeed : 0;
    }

    /**
     * Where the payload of the first netstring of at least $large bytes
     * starts in $bytes (the beginning of a packet), when $bytes ends before
     * that payload does; 0 otherwise (no such netstring, or bytes that are
     * not netstrings: the decoder reports those). Reading exactly that many
     * bytes first leaves the payload to be read whole.
     */
    public static function payloadStart(string $bytes, int $large): int
    {
        $len = strlen($bytes);
        $pos = 0;
        while ($pos < $len) {
            $digits = strspn($bytes, self::DIGITS, $pos, 10);
            if ($digits === 0 || $digits === 10 || $pos + $digits >= $len) {
                return 0;
            }
            $n = (int) substr($bytes, $pos, $digits);
            $at = $pos + $digits + 1;
            if ($at + $n >= $len) {
                return $n >= $large ? $at : 0;
            }
            $pos = $at + $n + 1;
        }
        return 0;
    }

    /** Drops whatever is buffered, for a new connection. */
    public function reset(): void
    {
        $this->buf = '';
        $this->pos = 0;
        $this->fields = [];
        $this->started = false;
        $this->parts = [];
        $this->partNeed = 0;
        $this->partType = '';
    }

    /** True when bytes of an unfinished packet are buffered. */
    public function hasPartial(): bool
    {
        return $this->buf !== '' || $this->partType !== '';
    }

    /**
     * How many bytes to read next: enough for the rest of a netstring whose
     * length is known (so a large payload arrives in few reads), at least
     * Io::CHUNK and at most Io::MAX_READ.
     */
    public function readSize(): int
    {
        if ($this->partNeed > 0) {
            return min($this->partNeed, Io::CHUNK);
        }
        $len = strlen($this->buf);
        $digits = strspn($this->buf, self::DIGITS, $this->pos, 10);
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

    /** The parsed service key of the request next() returned last, when checkKey is set. */
    public function serviceKey(): ?ServiceKey
    {
        return $this->key;
    }

    /**
     * @return array<string,string>|null
     * @throws ProtocolError
     */
    public function next(): ?array
    {
        if ($this->partType !== '' && ($this->partNeed > 0 || $this->buf === '')) {
            return null; // a large payload, or the terminator after it, still to come
        }
        $buf = $this->buf;
        $len = strlen($buf);
        $pos = $this->pos;
        $fields = $this->fields;
        $first = !$this->started;
        if ($this->partType !== '') {
            // The collected payload is whole and its terminator is here.
            $type = $this->partType;
            $t = $buf[$pos];
            if ($t !== ',' && $t !== "\n") {
                throw new ProtocolError('incorrect netString terminator - comma or \n expected', true);
            }
            $payload = count($this->parts) === 1 ? $this->parts[0] : implode('', $this->parts);
            $this->parts = [];
            $this->partType = '';
            $pos++;
            if ($this->accept($fields, $first, $type, $payload)) {
                return $this->complete($buf, $pos, $len, $fields);
            }
        }
        // Each turn consumes one whole netstring `<length><type><payload><terminator>`.
        while ($pos < $len) {
            $digits = strspn($buf, self::DIGITS, $pos);
            if ($digits === 0) {
                throw new ProtocolError('leading netString character not a digit', true);
            }
            if ($digits > 9 && strlen(ltrim(substr($buf, $pos, $digits), '0')) > 9) {
                // Checked before waiting for more digits: a flood of digits fails at once.
                throw new ProtocolError('netString length value greater than 999999999', true);
            }
            $n = (int) substr($buf, $pos, $digits);
            $at = $pos + $digits;
            if ($at >= $len) {
                break;
            }
            if ($this->maximumSize > 0 && $n > $this->maximumSize) {
                // As soon as the prefix is complete (a non-digit follows), before
                // the type byte is checked: input that ends inside the prefix is
                // a truncated packet, as in every SDK.
                throw new TooLargeError($n, $this->maximumSize, $fields);
            }
            $type = $buf[$at];
            $o = ord($type);
            if ($o < 0x20 || $o > 0x7E) {
                throw new ProtocolError('invalid netString type (not isprint())', true);
            }
            $end = $at + 1 + $n;
            if ($end >= $len) {
                if ($n >= self::LARGE_PAYLOAD && !$this->keepRaw) {
                    // Collected apart from now on (the raw packet is not kept whole).
                    $this->parts = $at + 1 < $len ? [substr($buf, $at + 1)] : [];
                    $this->partNeed = $n - ($len - $at - 1);
                    $this->partType = $type;
                    $this->buf = '';
                    $this->pos = 0;
                    $this->fields = $fields;
                    $this->started = !$first;
                    return null;
                }
                break;
            }
            $t = $buf[$end];
            if ($t !== ',' && $t !== "\n") {
                throw new ProtocolError('incorrect netString terminator - comma or \n expected', true);
            }
            if ($first) {
                if ($type !== $this->wanted) {
                    throw new ProtocolError(
                        'Unexpected netString type. Wanted: ' . Packet::typeName($this->wanted)
                        . ", but got: '" . $type . "' (" . Packet::typeName($type) . ')',
                        false
                    );
                }
                $first = false;
                // As the original, the packet type is not a field: a second
                // `Q` (or `A`) later in the packet is an unknown type, ignored.
                $pos = $end + 1;
                continue;
            } elseif ($o >= 123) {
                throw new ProtocolError("Out-of-range netString type: '" . $type . "'", false);
            } elseif (isset($fields[$type])) {
                throw new ProtocolError("Duplicate netString type of '" . $type . "'", false);
            }
            $fields[$type] = $n === 0 ? '' : substr($buf, $at + 1, $n);
            $pos = $end + 1;
            if ($type === Packet::END) {
                return $this->complete($buf, $pos, $len, $fields);
            }
        }
        // Only whole netstrings are consumed; pos stays at the first unparsed one.
        $this->pos = $pos;
        $this->fields = $fields;
        $this->started = !$first;
        return null;
    }

    /**
     * A whole packet: the bytes after it stay for the next one.
     *
     * @param array<string,string> $fields
     * @return array<string,string>
     * @throws ProtocolError
     */
    private function complete(string $buf, int $pos, int $len, array $fields): array
    {
        if ($this->keepRaw) {
            $this->lastRaw = substr($buf, 0, $pos);
        }
        $this->buf = $pos === $len ? '' : substr($buf, $pos);
        $this->pos = 0;
        $this->fields = [];
        $this->started = false;
        if ($this->checkKey) {
            $this->verifyKey($fields[Packet::SERVICE_KEY] ?? '');
        }
        return $fields;
    }

    /**
     * Takes one whole netstring read apart (a collected payload) with the
     * rules of next(); true when it ends the packet.
     *
     * @param array<string,string> $fields
     * @throws ProtocolError
     */
    private function accept(array &$fields, bool &$first, string $type, string $payload): bool
    {
        if ($first) {
            if ($type !== $this->wanted) {
                throw new ProtocolError(
                    'Unexpected netString type. Wanted: ' . Packet::typeName($this->wanted)
                    . ", but got: '" . $type . "' (" . Packet::typeName($type) . ')',
                    false
                );
            }
            $first = false;
            return false;
        }
        if (ord($type) >= 123) {
            throw new ProtocolError("Out-of-range netString type: '" . $type . "'", false);
        }
        if (isset($fields[$type])) {
            throw new ProtocolError("Duplicate netString type of '" . $type . "'", false);
        }
        $fields[$type] = $payload;
        return $type === Packet::END;
    }

    /**
     * As the original: a request whose key fails the client rules is
     * malformed. A service is sent the same key over and over, so each new
     * one is checked once.
     *
     * @throws ProtocolError
     */
    private function verifyKey(string $text): void
    {
        if ($text === $this->keyText) {
            return;
        }
        try {
            $this->key = ServiceKey::parse($text);
        } catch (\InvalidArgumentException $e) {
            throw new ProtocolError('Invalid Service Key: ' . $e->getMessage(), false);
        }
        $this->keyText = $text;
    }
}
