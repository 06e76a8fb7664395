<?php

declare(strict_types=1);

namespace Pluton\Tests;

use PHPUnit\Framework\TestCase;
use Pluton\Packet;
use Pluton\PacketDecoder;
use Pluton\ProtocolError;
use Pluton\TooLargeError;

final class PacketTest extends TestCase
{
    // The captured examples of docs/protocol.md section 1.2.
    private const REQUEST = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n";
    private const RESPONSE = "0A,3b100,12aplSend:26446,12secho:26429/0,5qHello,0z\n";
    private const FAULT = "0A,3b100,12aplSend:26448,12secho:26429/0,3p111,19rsleep time negative,0z\n";
    private const ALL_ATTRS = "0Q,3b100,10amyApp:4242,17csystem.echo.0.raw,4l4000,0e,0f,0g,0h,0i,"
        . "22j12kecho.sleepMS,3v500,,4kping,0z\n";

    public function testEncodesTheCapturedRequest(): void
    {
        $ctx = Packet::contextPair('echo.sleepMS', '5');
        $this->assertSame(
            self::REQUEST,
            Packet::encodeRequest(100, 'plSend:26446', 'system.echo.0.raw', 4000, [], $ctx, 'Hello')
        );
        $this->assertSame(
            self::ALL_ATTRS,
            Packet::encodeRequest(
                100,
                'myApp:4242',
                'system.echo.0.raw',
                4000,
                ['i', 'h', 'g', 'f', 'e'],
                Packet::contextPair('echo.sleepMS', '500'),
                'ping'
            )
        );
    }

    public function testEncodesPlTestRequestWithoutClientName(): void
    {
        $this->assertSame(
            "0Q,1b0,20cplTest.service.0.raw,1l0,0z\n",
            Packet::encodeRequest(0, '', 'plTest.service.0.raw', 0, [], '', '')
        );
    }

    public function testEncodesTheCapturedResponses(): void
    {
        $this->assertSame(
            self::RESPONSE,
            Packet::encodeResponse('100', 'plSend:26446', 'echo:26429/0', 0, '', 'Hello')
        );
        $this->assertSame(
            self::FAULT,
            Packet::encodeResponse('100', 'plSend:26448', 'echo:26429/0', 111, 'sleep time negative', '')
        );
        $this->assertSame("0A,1b0,10secho:706/0,0z\n", Packet::encodeResponse('0', '', 'echo:706/0', 0, '', ''));
        // A fault with no text has no r.
        $this->assertSame("0A,1b5,2p12,0z\n", Packet::encodeResponse('5', '', '', 12, '', ''));
    }

    public function testDecodesTheCapturedRequest(): void
    {
        $d = new PacketDecoder('Q');
        $d->feed(self::REQUEST);
        $p = $d->next();
        $this->assertSame('100', $p['b']);
        $this->assertSame('plSend:26446', $p['a']);
        $this->assertSame('system.echo.0.raw', $p['c']);
        $this->assertSame('4000', $p['l']);
        $this->assertSame('Hello', $p['k']);
        $this->assertSame(['echo.sleepMS' => '5'], Packet::decodeContext($p['j']));
        $this->assertNull($d->next());
        $this->assertFalse($d->hasPartial());
    }

    public function testDecodesByteByByteAndBackToBack(): void
    {
        $d = new PacketDecoder('A', true);
        $stream = self::RESPONSE . self::FAULT;
        $got = [];
        for ($i = 0; $i < strlen($stream); $i++) {
            $d->feed($stream[$i]);
            while (($p = $d->next()) !== null) {
                $got[] = [$p, $d->lastRaw()];
            }
        }
        $this->assertCount(2, $got);
        $this->assertSame('Hello', $got[0][0]['q']);
        $this->assertSame(self::RESPONSE, $got[0][1]);
        $this->assertSame('111', $got[1][0]['p']);
        $this->assertSame('sleep time negative', $got[1][0]['r']);
        $this->assertSame(self::FAULT, $got[1][1]);
        $this->assertFalse($d->hasPartial());
    }

    public function testPartialPacketIsReported(): void
    {
        $d = new PacketDecoder('Q');
        $d->feed('0Q,3b100,');
        $this->assertNull($d->next());
        $this->assertTrue($d->hasPartial());
    }

    public function testAcceptsCommaOrNewlineEnd(): void
    {
        foreach (["\n", ','] as $end) {
            $d = new PacketDecoder('Q');
            $d->feed('0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,0z' . $end);
            $this->assertSame('5000', $d->next()['l']);
        }
    }

    public function testUnknownTypesAreIgnored(): void
    {
        $d = new PacketDecoder('Q');
        $d->feed("0Q,1b1,3xabc,3Yabc,0z\n");
        $p = $d->next();
        $this->assertSame('1', $p['b']);
    }

    /**
     * As the original's decodePacket, the packet type is not a field: a second
     * `Q` is an unknown type (ignored), a third a duplicate. Found by the
     * differential test (conformance/differential_test.go).
     */
    public function testSecondPacketTypeIsIgnored(): void
    {
        $d = new PacketDecoder('Q');
        $d->feed("0Q,1b1,0Q,0z\n0Q,0Q,0z\n");
        $this->assertSame('1', $d->next()['b']);
        $this->assertSame('', $d->next()['z']);
        $d = new PacketDecoder('Q');
        $d->feed('0Q,');
        $this->assertNull($d->next());
        $d->feed('0Q,0Q,0z,');
        $this->expectExceptionMessage("Duplicate netString type of 'Q'");
        $d->next();
    }

    /**
     * The size limit applies once the length prefix is complete, before the
     * type byte is checked; input that ends inside the prefix is truncated.
     * Found by the differential test (conformance/differential_test.go).
     */
    public function testSizeLimitOnceThePrefixIsComplete(): void
    {
        $d = new PacketDecoder('Q', false, false, 10);
        $d->feed('0Q,3b100,99999999');
        $this->assertNull($d->next());
        $this->assertTrue($d->hasPartial());
        $d->feed("\x00");
        try {
            $d->next();
            $this->fail('no TooLargeError');
        } catch (TooLargeError $e) {
            $this->assertSame(99999999, $e->length);
            $this->assertSame('100', $e->fields['b']);
        }
    }

    /** @return array<string,array{0:string,1:string,2:bool}> */
    public static function badPackets(): array
    {
        $good = '0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,';
        return [
            'bad terminator' => [$good . '0zX', 'incorrect netString terminator - comma or \n expected', true],
            'wrong packet type' => [
                '0G,3b100,0z,',
                "Unexpected netString type. Wanted: requestPT, but got: 'G' (?unknownPT?)",
                false,
            ],
            'response instead of request' => [
                '0A,0z,',
                "Unexpected netString type. Wanted: requestPT, but got: 'A' (responsePT)",
                false,
            ],
            'malformed length' => ['0Q,3b1x00,0z,', 'incorrect netString terminator - comma or \n expected', true],
            'duplicate type' => [$good . "4l5000,0z\n", "Duplicate netString type of 'l'", false],
            '12-digit length' => ['0Q,123456789012b', 'netString length value greater than 999999999', true],
            'tab type' => ["0Q,0\t,0z,", 'invalid netString type (not isprint())', true],
            'leading non-digit' => ['xQ,0z,', 'leading netString character not a digit', true],
            'out of range type' => ['0Q,0{,0z,', "Out-of-range netString type: '{'", false],
            // packetToEnglish names only packet types, as in the original
            'field type first' => [
                '3b100,0z,',
                "Unexpected netString type. Wanted: requestPT, but got: 'b' (?unknownPT?)",
                false,
            ],
        ];
    }

    /** @dataProvider badPackets */
    public function testRejectsBadPackets(string $bytes, string $message, bool $netStringError): void
    {
        $d = new PacketDecoder('Q');
        $d->feed($bytes);
        try {
            $d->next();
            $this->fail('no error for ' . $bytes);
        } catch (ProtocolError $e) {
            $this->assertSame($message, $e->getMessage());
            $this->assertSame($netStringError, $e->isNetStringError());
        }
    }

    public function testServiceKeysAreChecked(): void
    {
        $d = new PacketDecoder('Q', false, true);
        $keys = ['system.echo.0.raw', 'system.echo.0.raw', 'system.echo.0.bad', 'system.echo.0.raw', 'a.b.01.raw'];
        foreach ($keys as $i => $key) {
            $d->feed(Packet::encodeRequest($i, '', $key, 0, [], '', 'x'));
            try {
                $p = $d->next();
                $this->assertSame($key, $p['c']);
                $this->assertSame('echo', $d->serviceKey()?->function);
                $this->assertNotContains($i, [2, 4], "$key passed");
            } catch (ProtocolError $e) {
                $this->assertContains($i, [2, 4], "$key failed");
                $this->assertStringStartsWith('Invalid Service Key: ', $e->getMessage());
                $this->assertFalse($e->isNetStringError());
            }
        }
        $this->assertFalse($d->hasPartial());
    }

    public function testLongLengthWithLeadingZeros(): void
    {
        $d = new PacketDecoder('Q');
        $d->feed("0Q,00000000002b12,0z\n");
        $this->assertSame('12', $d->next()['b']);
    }

    public function testLengthBoundStopsEarly(): void
    {
        // A flood of digits is rejected without reading them all.
        $d = new PacketDecoder('Q');
        $d->feed(str_repeat('9', 10));
        $this->expectException(ProtocolError::class);
        $d->next();
    }

    public function testReadSizeCoversAKnownPayload(): void
    {
        $d = new PacketDecoder('Q');
        $this->assertSame(\Pluton\Io::CHUNK, $d->readSize());
        $d->feed('0Q,3b100,5000000kab');
        $this->assertNull($d->next());
        // A large payload is collected in reads of at most a chunk, 2 of its bytes already here.
        $this->assertSame(\Pluton\Io::CHUNK, $d->readSize());
        $this->assertSame(0, $d->wholePayloadWanted(), 'a part is already read: the payload cannot come whole');
        $d->feed(str_repeat('x', 4999998) . ',0z');
        $this->assertNull($d->next());
        $d->feed("\n");
        $this->assertSame('ab' . str_repeat('x', 4999998), $d->next()['k']);
        $big = new PacketDecoder('Q');
        $big->feed('0Q,999999999k');
        $this->assertNull($big->next());
        $this->assertSame(\Pluton\Io::CHUNK, $big->readSize(), 'a declared length does not size one read');
        $this->assertSame(999999999, $big->wholePayloadWanted());
    }

    public function testALargePayloadReadWholeIsUsedAsItIs(): void
    {
        $payload = str_repeat('y', PacketDecoder::LARGE_PAYLOAD);
        $head = '0Q,3b100,17csystem.echo.0.raw,' . strlen($payload) . 'k';
        $this->assertSame(strlen($head), PacketDecoder::payloadStart($head . 'yyyy', PacketDecoder::LARGE_PAYLOAD));
        $d = new PacketDecoder('Q', false, true);
        $d->feed($head);
        $this->assertNull($d->next());
        $this->assertSame(strlen($payload), $d->wholePayloadWanted());
        $d->feed($payload);
        $this->assertNull($d->next(), 'the terminator is still to come');
        $this->assertSame(0, $d->wholePayloadWanted());
        $d->feed(",0z\n0Q,");
        $p = $d->next();
        $this->assertSame($payload, $p['k']);
        $this->assertSame('system.echo.0.raw', (string) $d->serviceKey());
        $this->assertTrue($d->hasPartial(), 'the next packet has begun');
    }

    /** @return array<string,array{0:string,1:int}> */
    public static function payloadStarts(): array
    {
        $k = PacketDecoder::LARGE_PAYLOAD;
        return [
            'large, incomplete' => ["0Q,1b1,{$k}kxx", 7 + strlen("{$k}k")],
            'large, whole' => ["0Q,1b1,{$k}k" . str_repeat('x', $k) . ',', 0],
            'small' => ['0Q,1b1,100kxx', 0],
            'not a netstring' => ['Q0,', 0],
            'prefix cut' => ['0Q,1b1,655', 0],
            'digits flood' => [str_repeat('9', 12), 0],
        ];
    }

    /** @dataProvider payloadStarts */
    public function testPayloadStart(string $bytes, int $want): void
    {
        $this->assertSame($want, PacketDecoder::payloadStart($bytes, PacketDecoder::LARGE_PAYLOAD));
    }

    /** @return array<string,array{0:string,1:string}> */
    public static function collectedErrors(): array
    {
        $k = PacketDecoder::LARGE_PAYLOAD;
        $x = str_repeat('x', $k);
        return [
            'terminator' => ["0Q,{$k}k", $x . ';', 'incorrect netString terminator - comma or \n expected'],
            'duplicate' => ["0Q,{$k}k", $x . ",{$k}k" . $x . ',', "Duplicate netString type of 'k'"],
            'out of range' => ["0Q,{$k}{", $x . ',', "Out-of-range netString type: '{'"],
            'first' => ["{$k}A", $x . ',', "Unexpected netString type. Wanted: requestPT, but got: 'A' (responsePT)"],
        ];
    }

    /**
     * A collected payload is checked as any netstring, in the same order.
     *
     * @dataProvider collectedErrors
     */
    public function testCollectedPayloadErrors(string $head, string $rest, string $message): void
    {
        $d = new PacketDecoder('Q');
        $d->feed($head);
        $this->assertNull($d->next());
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage($message);
        foreach (str_split($rest, 40000) as $part) {
            $d->feed($part);
            $d->next();
        }
    }

    /** @return array<string,array{0:string,1:string}> */
    public static function badContexts(): array
    {
        return [
            'wrong key type' => ['1xa,1vb,', "Service Error: Unexpected Context type. Wanted: 'k', but got: 'x'"],
            'wrong value type' => ['1ka,1xb,', "Service Error: Unexpected Context type. Wanted: 'v', but got: 'x'"],
            'key without value' => ['1ka,', 'Service Error: Context leading netString character not a digit'],
            'truncated' => ['1ka,5vab', 'Service Error: Context truncated'],
            'no type' => ['1ka,12', 'Service Error: Context truncated'],
            'bad terminator' => [
                '1ka;1vb,',
                'Service Error: Context incorrect netString terminator - comma or \n expected',
            ],
            'too long' => ['1234567890ka', 'Service Error: Context netString length value greater than 999999999'],
        ];
    }

    /** @dataProvider badContexts */
    public function testContextErrors(string $payload, string $message): void
    {
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage($message);
        Packet::decodeContext($payload);
    }

    public function testContextLastValueWins(): void
    {
        $ctx = Packet::contextPair('a', '1') . Packet::contextPair('b', '') . Packet::contextPair('a', '2');
        $this->assertSame(['a' => '2', 'b' => ''], Packet::decodeContext($ctx));
    }

    public function testNumbersReadLikeStrtol(): void
    {
        $this->assertSame(100, Packet::number('100'));
        $this->assertSame(-5, Packet::number('-5'));
        $this->assertSame(12, Packet::number(' +12abc'));
        $this->assertSame(0, Packet::number(''));
        $this->assertSame(0, Packet::number('abc'));
    }
}
