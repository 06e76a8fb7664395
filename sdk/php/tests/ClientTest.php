<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Compat\Client;
use Pluton\Compat\ClientRequest;
use Pluton\Fault;

/** The client against echo.php in accept mode and against scripted servers. */
final class ClientTest extends Harness
{
    private function client(string $dir, int $timeoutMs = 4000): Client
    {
        $c = new Client('test', $timeoutMs);
        $this->assertTrue($c->initialize($dir), (string) $c->getFault()?->getMessageLong());
        return $c;
    }

    private static function request(string $data = '', array $context = [], int $attrs = 0): ClientRequest
    {
        $r = new ClientRequest();
        $r->setRequestData($data);
        foreach ($context as $k => $v) {
            $r->setContext($k, $v);
        }
        $r->setAttribute($attrs);
        return $r;
    }

    public function testEchoFaultAndContext(): void
    {
        $dir = $this->tempDir();
        [$p] = $this->startAcceptEcho($dir);
        $c = $this->client($dir);

        $r = self::request('Hello', ['echo.sleepMS' => '5']);
        $this->assertTrue($r->hasFault(), 'a new request has requestNotAdded');
        $this->assertSame(Fault::REQUEST_NOT_ADDED, $r->getFaultCode());
        $this->assertTrue($c->addRequest('system.echo.0.raw', $r));
        $this->assertTrue($r->inProgress());
        $this->assertSame(1, $c->executeAndWaitAll());
        $this->assertFalse($r->inProgress());
        $this->assertFalse($r->hasFault());
        $this->assertNull($r->getFault());
        $this->assertSame('Hello', $r->getResponseData());
        $this->assertMatchesRegularExpression('/^echo:\d+\/0$/', $r->getServiceName());

        $f = self::request('x', ['echo.sleepMS' => '-1']);
        $c->addRequest('system.echo.0.raw', $f);
        $this->assertSame(1, $c->executeAndWaitOne($f));
        $this->assertSame(111, $f->getFaultCode());
        $this->assertSame('sleep time negative', $f->getFaultText());
        $this->assertSame('', $f->getResponseData());
        $this->assertSame("pluton::Fault=111 'sleep time negative'", $f->getFault()->getMessageLong());

        // The request object is reusable once complete.
        $r->setRequestData('again');
        $this->assertTrue($c->addRequest('system.echo.0.raw', $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame('again', $r->getResponseData());
        // A client that connects and sends nothing does not end the loop; SIGTERM does.
        $silent = stream_socket_client("unix://$dir/system.echo.0.raw.socket");
        $r->setRequestData('still serving');
        $this->assertTrue($c->addRequest('system.echo.0.raw', $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame('still serving', $r->getResponseData());
        fclose($silent);
        proc_terminate($p, 15);
        $this->assertSame(0, $this->waitExit($p));
        $this->assertFileDoesNotExist("$dir/system.echo.0.raw.socket", 'accept socket left behind');
    }

    public function testLargeAndBinaryPayloads(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir);
        $c = $this->client($dir, 20000);
        $data = random_bytes(1 << 20) . str_repeat("0z\n,", 1000000);
        $r = self::request($data);
        $c->addRequest('system.echo.0.raw', $r);
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertFalse($r->hasFault(), (string) $r->getFault()?->getMessageLong());
        $this->assertSame(strlen($data), strlen($r->getResponseData()));
        $this->assertTrue($data === $r->getResponseData());
    }

    public function testParallelRequestsToSeveralServices(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir, 'one.echo.0.raw');
        $this->startAcceptEcho($dir, 'two.echo.0.raw');
        $c = $this->client($dir);
        $a = self::request('a', ['echo.sleepMS' => '500']);
        $b = self::request('b', ['echo.sleepMS' => '500']);
        $a->setClientHandle('handle-a');
        $t = microtime(true);
        $c->addRequest('one.echo.0.raw', $a);
        $c->addRequest('two.echo.0.raw', $b);
        $this->assertSame(2, $c->executeAndWaitSent(), 'both requests are still in progress');
        $first = $c->executeAndWaitAny();
        $second = $c->executeAndWaitAny();
        $this->assertNull($c->executeAndWaitAny());
        $elapsed = microtime(true) - $t;
        $this->assertLessThan(0.95, $elapsed, 'the two requests did not run in parallel');
        $got = [$first->getResponseData(), $second->getResponseData()];
        sort($got);
        $this->assertSame(['a', 'b'], $got);
        $this->assertSame('handle-a', $a->getClientHandle());
    }

    public function testEachRequestHasItsOwnDeadline(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir, 'one.echo.0.raw');
        $this->startAcceptEcho($dir, 'two.echo.0.raw');
        $c = $this->client($dir, 200);
        $short = self::request('short', ['echo.sleepMS' => '700']);
        $c->addRequest('one.echo.0.raw', $short);
        $c->setTimeoutMilliSeconds(3000);
        $long = self::request('long', ['echo.sleepMS' => '700']);
        $c->addRequest('two.echo.0.raw', $long);
        $t = microtime(true);
        $this->assertSame($short, $c->executeAndWaitAny(), 'the short deadline ends first');
        $this->assertLessThan(0.6, microtime(true) - $t);
        $this->assertSame(Fault::SERVICE_TIMEOUT, $short->getFaultCode());
        $this->assertSame('no response within 0.2 s', $short->getFaultText());
        $this->assertFalse($short->inProgress());
        $this->assertSame(1, $c->executeAndWaitAll());
        $this->assertFalse($long->hasFault(), (string) $long->getFault()?->getMessageLong());
        $this->assertSame('long', $long->getResponseData());
    }

    public function testFullBacklogIsWaitedOutUntilTheDeadline(): void
    {
        $dir = $this->tempDir();
        $path = "$dir/full.x.0.raw.socket";
        $ctx = stream_context_create(['socket' => ['backlog' => 0]]);
        $server = stream_socket_server(
            "unix://$path",
            $errno,
            $errstr,
            STREAM_SERVER_BIND | STREAM_SERVER_LISTEN,
            $ctx
        );
        $fill = [];
        for ($i = 0; $i < 8; $i++) {
            $conn = @stream_socket_client(
                "unix://$path",
                $errno,
                $errstr,
                1,
                STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT
            );
            if ($conn === false) {
                break;
            }
            $fill[] = $conn;
        }
        $this->assertSame(11, $errno, 'the backlog did not fill up');
        $c = $this->client($dir, 300);
        $r = self::request('x');
        $c->addRequest('full.x.0.raw', $r);
        $t = microtime(true);
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertGreaterThan(0.25, microtime(true) - $t);
        $this->assertSame(Fault::SERVICE_TIMEOUT, $r->getFaultCode());
        fclose($server);
    }

    public function testNoWaitCompletesWhenTheServiceHasReadTheRequest(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir);
        $c = $this->client($dir);
        $r = self::request('fire', ['echo.sleepMS' => '2000'], ClientRequest::NO_WAIT_ATTR);
        $t = microtime(true);
        $c->addRequest('system.echo.0.raw', $r);
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertLessThan(1.5, microtime(true) - $t);
        $this->assertFalse($r->hasFault());
        $this->assertSame('', $r->getResponseData());
    }

    public function testAffinityKeepsOneConnection(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir, 'aff.getters.0.raw', self::FIXTURES . '/getters.php');
        $c = $this->client($dir);
        $r = self::request('1');
        $r->setAttribute(ClientRequest::KEEP_AFFINITY_ATTR);
        $this->assertFalse($c->addRequest('aff.getters.0.raw', $r));
        $this->assertSame(Fault::NEED_NO_RETRY, $r->getFaultCode());
        $r->setAttribute(ClientRequest::NO_WAIT_ATTR | ClientRequest::NO_RETRY_ATTR);
        $this->assertFalse($c->addRequest('aff.getters.0.raw', $r));
        $this->assertSame(Fault::NO_WAIT_NOT_ALLOWED, $r->getFaultCode());
        $r->clearAttribute(ClientRequest::NO_WAIT_ATTR);
        $n = self::request();
        $n->setAttribute(ClientRequest::NEED_AFFINITY_ATTR);
        $this->assertFalse($c->addRequest('aff.getters.0.raw', $n));
        $this->assertSame(Fault::NO_AFFINITY, $n->getFaultCode());

        $this->assertTrue($c->addRequest('aff.getters.0.raw', $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertFalse($r->hasFault());
        $conn = $r->affinity();
        $this->assertIsResource($conn);
        $r->setAttribute(ClientRequest::NEED_AFFINITY_ATTR);
        for ($i = 0; $i < 3; $i++) {
            $this->assertTrue($c->addRequest('aff.getters.0.raw', $r));
            $this->assertSame(1, $c->executeAndWaitOne($r));
            $this->assertFalse($r->hasFault(), (string) $r->getFault()?->getMessageLong());
            $this->assertSame($conn, $r->affinity(), 'affinity connection replaced');
        }
        // A request without keepAffinity ends it.
        $r->clearAttribute(ClientRequest::KEEP_AFFINITY_ATTR | ClientRequest::NEED_AFFINITY_ATTR);
        $this->assertTrue($c->addRequest('aff.getters.0.raw', $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertFalse($r->hasFault());
        $this->assertNull($r->affinity());
    }

    /** @return array<string,array{0:string,1:int}> */
    public static function failures(): array
    {
        return [
            'closed' => ['close', Fault::INCOMPLETE_RESPONSE],
            'garbage' => ['garbage', Fault::RESPONSE_PACKET_FORMAT_ERROR],
            'partial' => ['partial', Fault::INCOMPLETE_RESPONSE],
            'wrong id' => ['wrongid', Fault::RESPONSE_PACKET_FORMAT_ERROR],
        ];
    }

    /**
     * docs/sdk.md rule 6: a request that was written is never sent again,
     * whatever comes back.
     *
     * @dataProvider failures
     */
    public function testNoResendOnceTheRequestWasWritten(string $action, int $fault): void
    {
        $dir = $this->tempDir();
        $path = "$dir/f.x.0.raw.socket";
        [$p, $pipes] = $this->spawn(self::FIXTURES . '/scripted.php', [], [], [$path, $action, 'echo']);
        $this->assertTrue($this->waitFor(fn () => self::isListening($path)));
        $c = $this->client($dir);
        $r = self::request('data');
        $c->addRequest('f.x.0.raw', $r);
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame($fault, $r->getFaultCode(), (string) $r->getFault()?->getMessageLong());
        if ($fault === Fault::INCOMPLETE_RESPONSE) {
            $this->assertSame(
                'the service instance closed the connection without a response: '
                . 'it may have died while serving this request',
                $r->getFaultText()
            );
        }
        proc_terminate($p, 9);
        $this->waitExit($p);
        $this->assertSame(1, substr_count(self::readAll($pipes[2]), 'action='), 'the request was sent again');
    }

    public function testNoRetryFailsAtOnce(): void
    {
        $dir = $this->tempDir();
        $path = "$dir/f.x.0.raw.socket";
        [$p, $pipes] = $this->spawn(self::FIXTURES . '/scripted.php', [], [], [$path, 'close']);
        $this->assertTrue($this->waitFor(fn () => self::isListening($path)));
        $c = $this->client($dir);
        $r = self::request('data', [], ClientRequest::NO_RETRY_ATTR);
        $c->addRequest('f.x.0.raw', $r);
        $c->executeAndWaitAll();
        $this->assertSame(Fault::INCOMPLETE_RESPONSE, $r->getFaultCode());
        $this->assertSame(0, $this->waitExit($p));
        $this->assertSame(1, substr_count(self::readAll($pipes[2]), 'action='));
    }

    public function testLookupWildcardAndNotFound(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir, 'AddressBook..0.JSON', self::FIXTURES . '/getters.php');
        $c = $this->client($dir);
        $r = self::request();
        $this->assertTrue($c->addRequest('AddressBook.AddEntry.0.JSON', $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame('AddEntry', json_decode($r->getResponseData(), true)['func']);

        $this->assertFalse($c->addRequest('AddressBook.AddEntry.1.JSON', $r));
        $this->assertSame(Fault::SERVICE_NOT_FOUND, $r->getFaultCode());
        $this->assertSame(Fault::SERVICE_NOT_FOUND, $c->getFaultCode());
        $this->assertSame(
            "pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'AddressBook.AddEntry.1.JSON'",
            $c->getFaultMessage()
        );
        $this->assertFalse($c->addRequest('AddressBook.AddEntry.0.JSON.', $r));
        $this->assertSame(Fault::SERVICE_KEY_BAD, $r->getFaultCode());
        $this->assertStringContainsString('more than four dot-separated tokens', $r->getFaultText());
    }

    public function testConnectFailedIsNotRetried(): void
    {
        $dir = $this->tempDir();
        // A socket file nobody listens on.
        $s = stream_socket_server("unix://$dir/dead.x.0.raw.socket");
        fclose($s);
        $this->assertFileExists("$dir/dead.x.0.raw.socket");
        $c = $this->client($dir);
        $r = self::request();
        $this->assertTrue($c->addRequest('dead.x.0.raw', $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame(Fault::CONNECT_FAILED, $r->getFaultCode());
    }

    public function testInitializeFromLookupMapFileAndEnvironment(): void
    {
        $dir = $this->tempDir();
        $map = "$dir/lookup.map";
        file_put_contents(
            $map,
            "# pluton lookup map 3001\nrendezvous $dir\nsystem.raw.0.echo $dir/system.echo.0.raw.socket\n"
        );
        $c = new Client('m');
        $this->assertTrue($c->initialize($map));
        $this->assertSame($dir, $c->getRendezvousDirectory());

        putenv("plutonLookupMap=$map");
        try {
            $e = new Client();
            $this->assertTrue($e->initialize());
            $this->assertSame($dir, $e->getRendezvousDirectory());
        } finally {
            putenv('plutonLookupMap');
        }

        $bad = new Client();
        $this->assertFalse($bad->initialize("$dir/nonexistent.map"));
        $this->assertSame(Fault::MAP_INITIALIZATION_FAILED, $bad->getFaultCode());
        $this->assertStringContainsString("no lookup map at $dir/nonexistent.map", $bad->getFault()->text());
        file_put_contents("$dir/empty.map", "# pluton lookup map 3001\n");
        $this->assertFalse($bad->initialize("$dir/empty.map"));
        $this->assertSame(Fault::MAP_INITIALIZATION_FAILED, $bad->getFaultCode());
        file_put_contents("$dir/old.map", "# pluton lookup map 1001\nrendezvous /tmp\n");
        $this->assertFalse($bad->initialize("$dir/old.map"));
        $this->assertSame(Fault::SHM_VERSION_MISMATCH, $bad->getFaultCode());
    }

    public function testLookupMapIsReadAgainAfterAMiss(): void
    {
        $old = $this->tempDir();
        $new = $this->tempDir();
        $map = "$old/lookup.map";
        file_put_contents($map, "# pluton lookup map 3001\nrendezvous $old\n");
        $c = $this->client($map);
        $this->assertSame($old, $c->getRendezvousDirectory());
        // The manager restarts with another rendezvous directory.
        $this->startAcceptEcho($new);
        file_put_contents($map, "# pluton lookup map 3001\nrendezvous $new\n");
        $r = self::request('moved');
        $this->assertTrue($c->addRequest('system.echo.0.raw', $r), $c->getFaultMessage());
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame('moved', $r->getResponseData());
        $this->assertSame($new, $c->getRendezvousDirectory());
    }

    public function testServiceGoneBetweenAddAndConnect(): void
    {
        $dir = $this->tempDir();
        $s = stream_socket_server("unix://$dir/gone.x.0.raw.socket");
        $c = $this->client($dir);
        $r = self::request();
        $this->assertTrue($c->addRequest('gone.x.0.raw', $r));
        fclose($s);
        unlink("$dir/gone.x.0.raw.socket");
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame(Fault::SERVICE_NOT_FOUND, $r->getFaultCode());
        $this->assertSame('gone.x.0.raw', $r->getFaultText());
    }

    public function testRequestChecks(): void
    {
        $c = new Client('x');
        $r = self::request();
        $this->assertFalse($c->addRequest('system.echo.0.raw', $r));
        $this->assertSame(Fault::NOT_INITIALIZED, $c->getFaultCode());

        $this->assertFalse($r->setContext('pluton.thing', 'v'));
        $this->assertSame(Fault::CONTEXT_RESERVED_NAMESPACE, $r->getFaultCode());
        $this->assertSame("Context Key uses reserved prefix of 'pluton.'", $r->getFaultText());

        $dir = $this->tempDir();
        $this->startAcceptEcho($dir);
        $c = $this->client($dir);
        $other = self::request();
        $this->assertSame(0, $c->executeAndWaitOne($other));
        $this->assertSame(Fault::REQUEST_NOT_ADDED, $c->getFaultCode());
        $this->assertSame(0, $c->executeAndWaitAll());
        $this->assertSame(0, $c->executeAndWaitSent());

        $this->assertTrue($c->addRequest('system.echo.0.raw', $other));
        $this->assertFalse($c->addRequest('system.echo.0.raw', $other));
        $this->assertSame(Fault::REQUEST_ALREADY_ADDED, $c->getFaultCode());
        $this->assertTrue($other->inProgress());
        $c->reset();
        $this->assertFalse($other->inProgress());
        $this->assertSame(0, $c->executeAndWaitAll());

        $this->assertSame(0x0001, PLUTON_NOWAIT_ATTR);
        $this->assertSame(ClientRequest::NEED_AFFINITY_ATTR, PLUTON_NEEDAFFINITY_ATTR);
        $x = new ClientRequest();
        $x->setAttribute(ClientRequest::NO_WAIT_ATTR | ClientRequest::NO_RETRY_ATTR);
        $this->assertTrue($x->getAttribute(ClientRequest::NO_WAIT_ATTR | ClientRequest::KEEP_AFFINITY_ATTR), 'any bit');
        $x->clearAttribute(ClientRequest::ALL_ATTR);
        $this->assertFalse($x->getAttribute(ClientRequest::ALL_ATTR));
    }

    public function testVersion(): void
    {
        $v = trim((string) file_get_contents(__DIR__ . '/../../../go/version/VERSION'));
        $this->assertSame($v, Client::getAPIVersion());
        $this->assertSame($v, \Pluton\Service::getAPIVersion());
    }
}
