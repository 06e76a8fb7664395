<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Call;
use Pluton\Client;
use Pluton\Fault;
use Pluton\FaultCode;
use Pluton\ServiceFault;
use Pluton\TimeoutFault;

/**
 * The native client (docs/sdk.md): call() returns the data or throws,
 * parallel calls with submit()/wait()/asCompleted(), timeouts in seconds,
 * the default lookup location.
 */
final class NativeClientTest extends Harness
{
    private static function fault(callable $call): Fault
    {
        try {
            $call();
        } catch (Fault $f) {
            return $f;
        }
        self::fail('no fault thrown');
    }

    /** @return array{0:string,1:Client} a directory with echo.php in accept mode, and a client */
    private function echo(float $timeout = 4.0): array
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir);
        return [$dir, new Client('nat', $timeout, $dir)];
    }

    public function testCallReturnsTheDataOrThrows(): void
    {
        [, $c] = $this->echo();
        $this->assertSame('Hello', $c->call('system.echo.0.raw', 'Hello'));
        $this->assertSame('', $c->call('system.echo.0.raw'));
        $big = random_bytes(300000);
        $this->assertSame($big, $c->call('system.echo.0.raw', $big));

        $f = self::fault(fn () => $c->call('system.echo.0.raw', 'x', context: ['echo.sleepMS' => '-1']));
        $this->assertInstanceOf(ServiceFault::class, $f);
        $this->assertInstanceOf(\RuntimeException::class, $f);
        $this->assertSame([111, 'sleep time negative'], [$f->getCode(), $f->text()]);
        $this->assertMatchesRegularExpression('/^echo:\d+\/0$/', $f->serviceName());

        $f = self::fault(fn () => $c->call('system.nosuch.0.raw'));
        $this->assertSame(FaultCode::SERVICE_NOT_FOUND, $f->getCode());
        $this->assertNotInstanceOf(ServiceFault::class, $f);
        $f = self::fault(fn () => $c->call('bad key'));
        $this->assertSame(Fault::SERVICE_KEY_BAD, $f->getCode());
        $f = self::fault(fn () => $c->call('system.echo.0.raw', 'x', context: ['pluton.x' => '1']));
        $this->assertSame(Fault::CONTEXT_RESERVED_NAMESPACE, $f->getCode());
    }

    public function testTimeoutsAreSecondsAndRecognisable(): void
    {
        [, $c] = $this->echo(0.3);
        $this->assertSame(0.3, $c->timeout());
        $t = microtime(true);
        $f = self::fault(fn () => $c->call('system.echo.0.raw', 'x', context: ['echo.sleepMS' => '2000']));
        $took = microtime(true) - $t;
        $this->assertInstanceOf(TimeoutFault::class, $f);
        $this->assertTrue($f->isTimeout());
        $this->assertSame(Fault::SERVICE_TIMEOUT, $f->getCode());
        $this->assertSame('no response within 0.3 s', $f->text());
        $this->assertGreaterThanOrEqual(0.29, $took);
        $this->assertLessThan(1.9, $took);

        // A per-call timeout overrides the client's.
        $f = self::fault(fn () => $c->call('system.echo.0.raw', 'x', 0.1, ['echo.sleepMS' => '1000']));
        $this->assertSame('no response within 0.1 s', $f->text());
        $this->expectException(\InvalidArgumentException::class);
        $c->call('system.echo.0.raw', 'x', 0.0);
    }

    public function testParallelCalls(): void
    {
        $dir = $this->tempDir();
        $this->startAcceptEcho($dir, 'a.echo.0.raw');
        $this->startAcceptEcho($dir, 'b.echo.0.raw');
        $c = new Client('par', 5.0, $dir);
        $calls = [
            'slow' => $c->submit('a.echo.0.raw', 'slow', context: ['echo.sleepMS' => '400']),
            'fast' => $c->submit('b.echo.0.raw', 'fast'),
        ];
        $this->assertContainsOnlyInstancesOf(Call::class, $calls);
        $order = [];
        foreach ($c->asCompleted($calls) as $name => $call) {
            $order[] = $name;
            $this->assertTrue($call->done());
            $this->assertSame($name, $call->result());
        }
        $this->assertSame(['fast', 'slow'], $order);

        $t = microtime(true);
        $calls = [
            $c->submit('a.echo.0.raw', '1', context: ['echo.sleepMS' => '300']),
            $c->submit('b.echo.0.raw', '2', context: ['echo.sleepMS' => '300']),
        ];
        $this->assertSame($calls, $c->wait($calls));
        $this->assertLessThan(0.58, microtime(true) - $t, 'the calls did not run in parallel');
        $this->assertSame('1', $calls[0]->result());
        $this->assertSame('2', $calls[1]->result());
        $this->assertMatchesRegularExpression('/^echo:\d+\/0$/', $calls[1]->serviceName());
    }

    public function testSubmitFailsAtOnceWithoutTheService(): void
    {
        [, $c] = $this->echo();
        $f = self::fault(fn () => $c->submit('a.nosuch.0.raw'));
        $this->assertSame(Fault::SERVICE_NOT_FOUND, $f->getCode());
        $this->assertSame('a.nosuch.0.raw', $f->text());
    }

    public function testNoWaitReturnsOnceRead(): void
    {
        [, $c] = $this->echo();
        $t = microtime(true);
        $this->assertSame('', $c->call('system.echo.0.raw', 'x', context: ['echo.sleepMS' => '700'], noWait: true));
        $this->assertLessThan(0.6, microtime(true) - $t);
    }

    public function testCancel(): void
    {
        [, $c] = $this->echo();
        $call = $c->submit('system.echo.0.raw', 'x', context: ['echo.sleepMS' => '300']);
        $call->cancel();
        $this->assertSame(Fault::REQUEST_NOT_ADDED, $call->fault()?->getCode());
        $this->assertSame('y', $c->call('system.echo.0.raw', 'y'));
    }

    public function testDefaultLookupLocationNamesThePathsTried(): void
    {
        $home = $this->tempDir();
        $saved = [getenv('plutonHome'), getenv('plutonLookupMap')];
        putenv("plutonHome=$home");
        putenv('plutonLookupMap');
        try {
            $f = self::fault(fn () => (new Client('d'))->call('system.echo.0.raw'));
            if (!is_file('/usr/local/var/pluton/lookup.map')) {
                $this->assertSame(Fault::MAP_INITIALIZATION_FAILED, $f->getCode());
                $this->assertSame(
                    "no lookup map at $home/lookup.map or /usr/local/var/pluton/lookup.map: is plutonManager running? "
                    . 'Start it, or set plutonLookupMap or pass the lookup location',
                    $f->text()
                );
            }
            // <home>/lookup.map is found without any option.
            $dir = $this->tempDir();
            $this->startAcceptEcho($dir);
            file_put_contents("$home/lookup.map", "# pluton lookup map 3001\nrendezvous $dir\n");
            $this->assertSame('home', (new Client('d'))->call('system.echo.0.raw', 'home'));
            $this->assertSame($dir, (new Client('d'))->rendezvous());

            // plutonLookupMap comes before the home.
            putenv("plutonLookupMap=$home/other.map");
            $f = self::fault(fn () => (new Client('d'))->call('system.echo.0.raw'));
            $this->assertSame(Fault::MAP_INITIALIZATION_FAILED, $f->getCode());
            $this->assertStringContainsString("no lookup map at $home/other.map", $f->text());
        } finally {
            putenv($saved[0] === false ? 'plutonHome' : "plutonHome=$saved[0]");
            putenv($saved[1] === false ? 'plutonLookupMap' : "plutonLookupMap=$saved[1]");
        }
    }

    public function testHomeRule(): void
    {
        $saved = [getenv('plutonHome'), getenv('XDG_STATE_HOME'), getenv('HOME')];
        try {
            putenv('plutonHome=/x/home');
            $this->assertSame('/x/home', \Pluton\Lookup::home());
            putenv('plutonHome');
            if (function_exists('posix_geteuid') && posix_geteuid() === 0) {
                $this->assertSame('/usr/local/var/pluton', \Pluton\Lookup::home());
                return;
            }
            putenv('XDG_STATE_HOME=/x/state');
            $this->assertSame('/x/state/pluton', \Pluton\Lookup::home());
            putenv('XDG_STATE_HOME');
            putenv('HOME=/x/user');
            $this->assertSame('/x/user/.local/state/pluton', \Pluton\Lookup::home());
        } finally {
            putenv($saved[0] === false ? 'plutonHome' : "plutonHome=$saved[0]");
            putenv($saved[1] === false ? 'XDG_STATE_HOME' : "XDG_STATE_HOME=$saved[1]");
            putenv($saved[2] === false ? 'HOME' : "HOME=$saved[2]");
        }
    }
}
