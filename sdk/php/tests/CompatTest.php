<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Fault;
use Pluton\Packet;

/**
 * The original API (PlutonService, PlutonClient, PlutonClientRequest) as a
 * layer over the native classes.
 */
final class CompatTest extends Harness
{
    public function testTheOriginalNamesAreTheCompatClasses(): void
    {
        $this->assertInstanceOf(\Pluton\Compat\Service::class, new \PlutonService('x'));
        $this->assertInstanceOf(\Pluton\Compat\Client::class, new \PlutonClient('x'));
        $this->assertInstanceOf(\Pluton\Compat\ClientRequest::class, new \PlutonClientRequest());
        $this->assertSame(\Pluton\Compat\ClientRequest::KEEP_AFFINITY_ATTR, PLUTON_KEEPAFFINITY_ATTR);
        $this->assertSame(\Pluton\Service::MODE_MANAGER, \PlutonService::MODE_MANAGER);
    }

    public function testCallsOutOfSequenceKeepAFault(): void
    {
        $dir = $this->tempDir();
        file_put_contents(
            "$dir/in",
            Packet::encodeRequest(1, 'c:1', 'seq.a.0.raw', 0, [], '', '1')
            . Packet::encodeRequest(2, 'c:1', 'seq.a.0.raw', 0, [], '', '2')
        );
        [$p, $pipes] = $this->spawn(
            self::FIXTURES . '/sequence.php',
            [3 => ['file', "$dir/in", 'r'], 4 => ['file', "$dir/out", 'w']]
        );
        $this->assertSame(0, $this->waitExit($p), self::readAll($pipes[2]));
        $out = (string) file_get_contents("$dir/out");
        $codes = implode(',', [
            Fault::NOT_INITIALIZED, 'ok', Fault::ALREADY_INITIALIZED, Fault::SEND_RESPONSE_NOT_NEXT,
            Fault::GET_REQUEST_NOT_NEXT,
        ]);
        $this->assertStringContainsString(strlen($codes) . "q$codes,", $out);
        $late = (string) Fault::SEND_RESPONSE_NOT_NEXT;
        $this->assertStringContainsString('2p12,' . strlen($late) . "r$late,", $out);
    }

    public function testOriginalClientAgainstAnOriginalService(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir, 'compat.getters.0.raw', self::FIXTURES . '/getters.php');
        $client = new \PlutonClient('orig', 4000);
        $this->assertTrue($client->initialize($dir));
        $r = new \PlutonClientRequest();
        $r->setRequestData('payload');
        $this->assertTrue($r->setContext('k1', 'v1'));
        $this->assertFalse($r->setContext('pluton.x', 'v'));
        $this->assertTrue($client->addRequest('compat.getters.0.raw', $r));
        $this->assertSame(1, $client->executeAndWaitAll());
        $this->assertFalse($r->hasFault(), (string) $r->getFault()?->getMessageLong());
        $got = json_decode($r->getResponseData(), true);
        $this->assertSame('compat.getters.0.raw', $got['key']);
        $this->assertSame(['compat', 'getters', 0, 114], [$got['app'], $got['func'], $got['ver'], $got['ser']]);
        $this->assertSame('orig:' . getmypid(), $got['client']);
        $this->assertSame(['payload', 'v1', null], [$got['data'], $got['k1'], $got['k2']]);
    }
}
