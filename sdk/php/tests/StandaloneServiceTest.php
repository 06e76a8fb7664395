<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Packet;
use Pluton\PacketDecoder;

/** Stand-alone mode: requests on fd 3, responses on fd 4 (docs/protocol.md section 3). */
final class StandaloneServiceTest extends Harness
{
    /** Runs echo.php with $input on fd 3; returns [exit code, fd 4 bytes, stderr]. */
    private function runEcho(string $input, array $env = []): array
    {
        $dir = $this->tempDir();
        file_put_contents("$dir/in", $input);
        [$p, $pipes] = $this->spawn(self::ECHO, [3 => ['file', "$dir/in", 'r'], 4 => ['file', "$dir/out", 'w']], $env);
        $rc = $this->waitExit($p);
        return [$rc, (string) file_get_contents("$dir/out"), self::readAll($pipes[2])];
    }

    /** @return list<array<string,string>> */
    private static function responses(string $bytes): array
    {
        $d = new PacketDecoder('A');
        $d->feed($bytes);
        $out = [];
        while (($p = $d->next()) !== null) {
            $out[] = $p;
        }
        return $out;
    }

    public function testEchoesTheCapturedRequest(): void
    {
        [$rc, $out] = $this->runEcho(
            "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n"
        );
        $this->assertSame(0, $rc);
        $this->assertMatchesRegularExpression("/^0A,3b100,12aplSend:26446,\\d+secho:\\d+\\/0,5qHello,0z\n\\z/", $out);
    }

    public function testPacketsBackToBackAndFault(): void
    {
        $in = Packet::encodeRequest(1, 'c:1', 'system.echo.0.raw', 0, [], '', 'one')
            . Packet::encodeRequest(
                2,
                'c:1',
                'system.echo.0.raw',
                0,
                [],
                Packet::contextPair('echo.sleepMS', '-1'),
                'x'
            )
            . Packet::encodeRequest(3, '', 'system.echo.0.raw', 0, [], '', str_repeat("\0\xff", 40000));
        [$rc, $out] = $this->runEcho($in);
        $this->assertSame(0, $rc);
        $r = self::responses($out);
        $this->assertCount(3, $r);
        $this->assertSame(['1', 'c:1', 'one'], [$r[0]['b'], $r[0]['a'], $r[0]['q']]);
        $this->assertSame(['2', '111', 'sleep time negative'], [$r[1]['b'], $r[1]['p'], $r[1]['r']]);
        $this->assertArrayNotHasKey('q', $r[1]);
        $this->assertArrayNotHasKey('a', $r[2]);
        $this->assertSame(str_repeat("\0\xff", 40000), $r[2]['q']);
    }

    public function testEmptyRequestGetsAResponseWithoutData(): void
    {
        [$rc, $out] = $this->runEcho("0Q,1b0,20cplTest.service.0.raw,1l0,0z\n");
        $this->assertSame(0, $rc);
        $this->assertMatchesRegularExpression("/^0A,1b0,\\d+secho:\\d+\\/0,0z\n\\z/", $out);
    }

    public function testEmptyInputEndsCleanly(): void
    {
        [$rc, $out] = $this->runEcho('');
        $this->assertSame(0, $rc);
        $this->assertSame('', $out);
    }

    public function testBadPacketStopsWithAFault(): void
    {
        [$rc, , $err] = $this->runEcho('0G,0z,');
        $this->assertSame(1, $rc);
        $this->assertStringContainsString('pluton::Fault=-57', $err);
        $this->assertStringContainsString("Wanted: requestPT, but got: 'G'", $err);

        [$rc, , $err] = $this->runEcho('xQ,');
        $this->assertSame(1, $rc);
        $this->assertStringContainsString('pluton::Fault=-58', $err);
    }

    public function testAnOversizeLengthPrefixIsRefusedWithFault3(): void
    {
        [$rc, $out, $err] = $this->runEcho('0Q,3b100,5ac:123,17csystem.echo.0.raw,4l4000,99999999k');
        $this->assertSame(1, $rc);
        $this->assertMatchesRegularExpression(
            '/^0A,3b100,5ac:123,\d+secho:\d+\/0,1p3,'
            . '68rrequest data of 99999999 bytes exceeds maximum-request-size 67108864,0z\n$/',
            $out
        );
        $this->assertStringContainsString('pluton::Fault=3', $err);
    }

    public function testEofInsideAPacketIsAFault(): void
    {
        [$rc, , $err] = $this->runEcho('0Q,3b100,');
        $this->assertSame(1, $rc);
        $this->assertStringContainsString('pluton::Fault=-57', $err);
        $this->assertStringContainsString('unexpected EOF in packet', $err);
    }

    public function testNoFd3FailsInitialize(): void
    {
        [$p, $pipes] = $this->spawn(self::ECHO, []);
        $this->assertSame(1, $this->waitExit($p));
        $err = self::readAll($pipes[2]);
        $this->assertStringContainsString('pluton::Fault=-55', $err);
        $this->assertStringContainsString('fd 3 is not open; run the service under plutonManager', $err);
    }

    public function testPacketTrace(): void
    {
        $req = "0Q,1b9,17csystem.echo.0.raw,1l0,2khi,0z\n";
        [$rc, $out, $err] = $this->runEcho($req, ['plutonPacketTrace' => '1']);
        $this->assertSame(0, $rc);
        $this->assertStringContainsString('PktIn: ' . $req, $err);
        $this->assertStringContainsString('PktOut: ' . $out, $err);
    }

    public function testRequestGettersAndSocketPairs(): void
    {
        // A request through a socketpair held open by the caller (as plTest
        // does): the service must answer without waiting for EOF.
        [$mine, $theirs] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        [$outMine, $outTheirs] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        [$p] = $this->spawn(self::FIXTURES . '/getters.php', [3 => $theirs, 4 => $outTheirs]);
        fclose($theirs);
        fclose($outTheirs);
        $ctx = Packet::contextPair('k1', 'v1') . Packet::contextPair('k2', '');
        fwrite($mine, Packet::encodeRequest(7, 'me:12', 'AddressBook.GetList.12.JSON', 0, [], $ctx, 'data'));
        stream_set_timeout($outMine, 5);
        $d = new PacketDecoder('A');
        $resp = null;
        while ($resp === null && ($chunk = fread($outMine, 65536)) !== '' && $chunk !== false) {
            $d->feed($chunk);
            $resp = $d->next();
        }
        $this->assertNotNull($resp, 'no response while the request side stays open');
        $this->assertSame(
            [
                'key' => 'AddressBook.GetList.12.JSON', 'app' => 'AddressBook', 'func' => 'GetList',
                'ver' => 12, 'ser' => 106, 'client' => 'me:12', 'data' => 'data',
                'k1' => 'v1', 'k2' => '', 'k3' => null, 'fault' => false,
            ],
            json_decode($resp['q'], true)
        );
        fclose($mine);
        $this->assertSame(0, $this->waitExit($p));
    }
}
