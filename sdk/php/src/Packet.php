<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Netstring and packet encoding (docs/protocol.md section 1).
 *
 * A netstring is `<decimal length><type byte><payload><terminator>`; a
 * packet is a run of netstrings from `0Q,`/`0A,` to `0z\n`.
 */
final class Packet
{
    public const REQUEST = 'Q';
    public const RESPONSE = 'A';
    public const REQUEST_ID = 'b';
    public const CLIENT_NAME = 'a';
    public const SERVICE_KEY = 'c';
    public const TIMEOUT_MS = 'l';
    public const NO_WAIT = 'e';
    public const NO_REMOTE = 'f';
    public const NO_RETRY = 'g';
    public const KEEP_AFFINITY = 'h';
    public const NEED_AFFINITY = 'i';
    public const CONTEXT = 'j';
    public const FILE_DESCRIPTOR = 'm';
    public const REQUEST_DATA = 'k';
    public const SERVICE_NAME = 's';
    public const FAULT_CODE = 'p';
    public const FAULT_TEXT = 'r';
    public const RESPONSE_DATA = 'q';
    public const END = 'z';

    /**
     * The original's packet type names (packetToEnglish), used in the decoder's
     * "Unexpected netString type" message; any other byte is `?unknownPT?`.
     */
    private const NAMES = [
        'Q' => 'requestPT', 'A' => 'responsePT', 'L' => 'remoteLoginPT', 'M' => 'loginResponsePT',
    ];

    public const END_PACKET = "0z\n";
    /** What follows the data of a response: its terminator and the end netstring. */
    public const DATA_END = ",0z\n";

    /** The original's name of a packet type byte (`requestPT`, ...), or `?unknownPT?`. */
    public static function typeName(string $type): string
    {
        return self::NAMES[$type] ?? '?unknownPT?';
    }

    /** One netstring with a `,` terminator. */
    public static function netString(string $type, string $payload = ''): string
    {
        return strlen($payload) . $type . $payload . ',';
    }

    /**
     * A request packet in the emission order `Q b [a] c l [e] [f] [g] [h] [i] [j] [m] [k] z`.
     *
     * @param string[] $flags the attribute types present (e, f, g, h, i)
     */
    public static function encodeRequest(
        int $requestId,
        string $clientName,
        string $serviceKey,
        int $timeoutMs,
        array $flags,
        string $context,
        string $data
    ): string {
        $p = '0Q,' . self::netString('b', (string) $requestId);
        if ($clientName !== '') {
            $p .= self::netString('a', $clientName);
        }
        $p .= self::netString('c', $serviceKey) . self::netString('l', (string) $timeoutMs);
        foreach (['e', 'f', 'g', 'h', 'i'] as $t) {
            if (in_array($t, $flags, true)) {
                $p .= '0' . $t . ',';
            }
        }
        if ($context !== '') {
            $p .= self::netString('j', $context);
        }
        if ($data !== '') {
            $p .= self::netString('k', $data);
        }
        return $p . self::END_PACKET;
    }

    /** A response packet in the emission order `A b [a] [s] [p [r]] [q] z`. */
    public static function encodeResponse(
        string $requestId,
        string $clientName,
        string $serviceName,
        int $faultCode,
        string $faultText,
        string $data
    ): string {
        $head = self::responseHead($requestId, $clientName, $serviceName, $faultCode, $faultText, strlen($data));
        return $data === '' ? $head . self::END_PACKET : $head . $data . self::DATA_END;
    }

    /**
     * The start of a response packet, up to where its data begins: the
     * packet is this, then $dataLength bytes of data and DATA_END (or
     * END_PACKET alone when $dataLength is 0). Large data is written after
     * it as it is, without a copy into one packet.
     */
    public static function responseHead(
        string $requestId,
        string $clientName,
        string $serviceName,
        int $faultCode,
        string $faultText,
        int $dataLength
    ): string {
        $p = '0A,' . strlen($requestId) . 'b' . $requestId . ',';
        if ($clientName !== '') {
            $p .= strlen($clientName) . 'a' . $clientName . ',';
        }
        if ($serviceName !== '') {
            $p .= strlen($serviceName) . 's' . $serviceName . ',';
        }
        if ($faultCode !== 0) {
            $p .= self::netString('p', (string) $faultCode);
            if ($faultText !== '') {
                $p .= self::netString('r', $faultText);
            }
        }
        return $dataLength > 0 ? $p . $dataLength . 'q' : $p;
    }

    /** One context pair, appended to the `j` payload. */
    public static function contextPair(string $key, string $value): string
    {
        return self::netString('k', $key) . self::netString('v', $value);
    }

    /**
     * Decodes a context payload into key => value (the last value of a key
     * wins). The messages are the Go implementation's, prefixed
     * "Service Error: " as the original's.
     *
     * @return array<string,string>
     * @throws ProtocolError
     */
    public static function decodeContext(string $payload): array
    {
        $out = [];
        $pos = 0;
        $len = strlen($payload);
        while ($pos < $len) {
            $key = self::contextNetString($payload, $pos, 'k');
            $out[$key] = self::contextNetString($payload, $pos, 'v');
        }
        return $out;
    }

    private static function contextNetString(string $b, int &$pos, string $want): string
    {
        $len = strlen($b);
        $i = $pos;
        $n = 0;
        while ($i < $len && $b[$i] >= '0' && $b[$i] <= '9') {
            $n = $n * 10 + (ord($b[$i]) - 48);
            if ($n > 999999999) {
                throw new ProtocolError('Service Error: Context netString length value greater than 999999999', false);
            }
            $i++;
        }
        if ($i === $pos) {
            throw new ProtocolError('Service Error: Context leading netString character not a digit', false);
        }
        if ($i === $len) {
            throw new ProtocolError('Service Error: Context truncated', false);
        }
        if ($b[$i] !== $want) {
            throw new ProtocolError(
                "Service Error: Unexpected Context type. Wanted: '$want', but got: '" . $b[$i] . "'",
                false
            );
        }
        $i++;
        if ($len - $i < $n + 1) {
            throw new ProtocolError('Service Error: Context truncated', false);
        }
        $t = $b[$i + $n];
        if ($t !== ',' && $t !== "\n") {
            throw new ProtocolError(
                'Service Error: Context incorrect netString terminator - comma or \n expected',
                false
            );
        }
        $pos = $i + $n + 1;
        return (string) substr($b, $i, $n);
    }

    /** strtol(..., 10): optional blanks and sign, digits, junk ignored; no digits reads as 0. */
    public static function number(string $s): int
    {
        $n = (int) $s;
        if ((string) $n === $s) {
            return $n; // plain digits, as nearly every number on the wire
        }
        return preg_match('/^[ \t\n\r\v\f]*([+-]?[0-9]+)/', $s, $m) === 1 ? (int) $m[1] : 0;
    }
}
