<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Stand-alone mode: request packets back to back on fd 3, responses
 * written to fd 4 (nothing for noWait). The end of input ends the loop; a
 * malformed packet, or input that ends inside a packet, is a Fault. A
 * length prefix above maximum-request-size is answered with fault 3 on fd
 * 4, then ends the loop with that Fault (the rest of the input cannot be
 * read in step).
 *
 * @internal
 */
final class StandaloneSource implements RequestSource
{
    private PacketDecoder $decoder;

    /**
     * @param resource      $in  fd 3
     * @param resource|null $out fd 4, null when it is not open
     */
    public function __construct(
        private $in,
        private $out,
        private SignalWatcher $signals,
        bool $keepRaw,
        private string $serviceName,
        int $maximumRequestSize
    ) {
        stream_set_read_buffer($in, 0);
        if ($out !== null) {
            stream_set_write_buffer($out, 0);
        }
        $this->decoder = new PacketDecoder(Packet::REQUEST, $keepRaw, true, $maximumRequestSize);
    }

    public function next(): ?Incoming
    {
        $decoder = $this->decoder;
        $start = microtime(true);
        while (true) {
            if ($this->signals->stopRequested()) {
                return null;
            }
            if ($decoder->hasPartial()) {
                try {
                    $packet = $decoder->next();
                } catch (TooLargeError $e) {
                    $this->refuse($e);
                    throw new Fault(Fault::REQUEST_TOO_LARGE, $e->getMessage());
                } catch (ProtocolError $e) {
                    throw new Fault(
                        $e->isNetStringError() ? Fault::REQUEST_NET_STRING_PARSE_ERROR : Fault::REQUEST_DECODE_FAILED,
                        $e->getMessage()
                    );
                }
                if ($packet !== null) {
                    return new Incoming($packet, $decoder->lastRaw(), $decoder->serviceKey(), $start, null);
                }
            }
            $in = $this->in;
            $size = $decoder->readSize();
            // select(2) first: unlike read(2), it is never restarted after the stop signal.
            $chunk = $this->signals->wait(static function () use ($in, $size) {
                $r = [$in];
                $w = $e = null;
                @stream_select($r, $w, $e, null);
                return @fread($in, $size);
            });
            if ($chunk === SignalWatcher::STOPPED) {
                return null;
            }
            if ($chunk === false || $chunk === '') {
                if ($chunk === '' && !feof($in)) {
                    continue;
                }
                if ($decoder->hasPartial()) {
                    throw new Fault(Fault::REQUEST_DECODE_FAILED, 'unexpected EOF in packet');
                }
                return null;
            }
            $decoder->feed($chunk);
        }
    }

    public function reply(Incoming $in, string $packet, string $data = '', string $tail = ''): int
    {
        if (isset($in->fields[Packet::NO_WAIT])) {
            return self::SENT;
        }
        if ($this->out === null) {
            throw new Fault(Fault::SOCKET_WRITE_FAILED, 'fd 4 is not open for stand-alone responses');
        }
        foreach ([$packet, $data, $tail] as $part) {
            $len = strlen($part);
            for ($off = 0; $off < $len; $off += $n) {
                $n = @fwrite($this->out, $off === 0 ? $part : substr($part, $off));
                if ($n === false || $n === 0) {
                    return self::FAILED;
                }
            }
        }
        return self::SENT;
    }

    /** Answers fault 3 requestTooLarge for the request being read. */
    private function refuse(TooLargeError $e): void
    {
        $f = $e->fields;
        $packet = Packet::encodeResponse(
            (string) Packet::number($f[Packet::REQUEST_ID] ?? ''),
            $f[Packet::CLIENT_NAME] ?? '',
            $this->serviceName,
            Fault::REQUEST_TOO_LARGE,
            $e->getMessage(),
            ''
        );
        if ($this->out !== null) {
            @fwrite($this->out, $packet);
        }
    }

    public function holdsAffinity(): bool
    {
        return false;
    }

    public function close(): void
    {
        @fclose($this->in);
        if ($this->out !== null) {
            @fclose($this->out);
            $this->out = null;
        }
    }
}
