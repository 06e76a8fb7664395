<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Client;
use Pluton\Fault;
use Pluton\ServiceFault;
use Pluton\StatsSegment;

/**
 * The native service model (docs/sdk.md): the handler and loop forms,
 * exceptions answered as faults, implicit initialization, stops as normal
 * loop ends.
 */
final class NativeServiceTest extends Harness
{
    private const FIXTURE = self::FIXTURES . '/native.php';

    /** @return array{0:array,1:Client} the managed service and a client for it */
    private function start(array $env = []): array
    {
        $m = $this->manage(self::FIXTURE, 'native..0.raw', $env);
        return [$m, new Client('t', 5.0, $m['dir'])];
    }

    private static function fault(callable $call): Fault
    {
        try {
            $call();
        } catch (Fault $f) {
            return $f;
        }
        self::fail('no fault thrown');
    }

    public function testAnExceptionIsAFaultAndTheSameInstanceKeepsServing(): void
    {
        [$m, $c] = $this->start();
        $pid = $c->call('native.pid.0.raw');
        $f = self::fault(fn () => $c->call('native.boom.0.raw', 'x'));
        $this->assertInstanceOf(ServiceFault::class, $f);
        $this->assertSame(Fault::SERVICE_EXCEPTION, $f->getCode());
        $this->assertSame('RuntimeException: boom: x', $f->text());
        $this->assertSame("native:$pid/0", $f->serviceName());
        $this->assertSame($pid, $c->call('native.pid.0.raw'), 'another process answered after the exception');
        $this->assertSame('still', $c->call('native.echo.0.raw', 'still'));

        $f = self::fault(fn () => $c->call('native.array.0.raw'));
        $this->assertSame(Fault::SERVICE_EXCEPTION, $f->getCode());
        $this->assertSame('TypeError: the handler returned array; return a string or null', $f->text());

        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $err = self::readAll($m['pipes'][2]);
        $this->assertStringContainsString('RuntimeException: boom: x in ', $err);
        $this->assertStringContainsString('#0 ', $err, 'no stack trace on stderr');
    }

    public function testAThrownFaultIsSentAsIs(): void
    {
        [, $c] = $this->start();
        $f = self::fault(fn () => $c->call('native.fault.0.raw'));
        $this->assertInstanceOf(ServiceFault::class, $f);
        $this->assertSame([42, 'custom fault'], [$f->getCode(), $f->text()]);
        $f = self::fault(fn () => $c->call('native.nosuch.0.raw'));
        $this->assertSame([2, 'unknown function nosuch'], [$f->getCode(), $f->text()]);
    }

    public function testRequestAccessors(): void
    {
        [, $c] = $this->start();
        $info = json_decode($c->call('native.info.0.raw', "bin\0ary", 2.5, ['a' => 'b=c']), true);
        $this->assertSame("bin\0ary", $info['data']);
        $this->assertSame(['native.info.0.raw', 'native', 'info', 0, 'raw'], [$info['key'], $info['app'], $info['func'],
            $info['ver'], $info['ser']]);
        $this->assertSame('t:' . getmypid(), $info['client']);
        $this->assertGreaterThanOrEqual(100, $info['id']);
        $this->assertSame(['b=c', null], [$info['a'], $info['missing']]);
        $this->assertGreaterThan(1.0, $info['remaining']);
        $this->assertLessThanOrEqual(2.5, $info['remaining']);
        $this->assertSame([false, false], [$info['noWait'], $info['keepAffinity']]);
    }

    public function testAHandlerThatAnsweredItselfAndASecondAnswer(): void
    {
        [$m, $c] = $this->start();
        $this->assertSame('first', $c->call('native.twice.0.raw'));
        $this->assertSame('x', $c->call('native.after.0.raw', 'x', context: ['ms' => '1']));
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $this->assertStringContainsString(
            'second respond: ' . Fault::SEND_RESPONSE_NOT_NEXT,
            self::readAll($m['pipes'][2])
        );
    }

    public function testLoopFormAnswersAnUnansweredRequest(): void
    {
        [, $c] = $this->start(['FORM' => 'loop']);
        $this->assertSame('hi', $c->call('native.echo.0.raw', 'hi'));
        $f = self::fault(fn () => $c->call('native.none.0.raw'));
        $this->assertSame(
            [Fault::SERVICE_EXCEPTION, 'request not answered by the service'],
            [$f->getCode(), $f->text()]
        );
        $this->assertSame([42, 'custom fault'], [self::fault(fn () => $c->call('native.fault.0.raw'))->getCode(),
            'custom fault']);
    }

    /** @return array<string,array{0:string}> */
    public static function forms(): array
    {
        return ['handler' => ['handler'], 'loop' => ['loop']];
    }

    /**
     * SIGTERM while busy: the request is finished, then the loop ends
     * normally: onStop, finally and destructors run, the service's own
     * handler is chained, and the slot says stopping / serviceShutdown.
     *
     * @dataProvider forms
     */
    public function testSigtermEndsTheLoopNormally(string $form): void
    {
        [$m, $c] = $this->start(['FORM' => $form, 'OWN_SIGTERM' => '1']);
        $call = $c->submit('native.sleep.0.raw', 'slow', context: ['ms' => '600']);
        $this->assertTrue($this->waitFor(
            fn () => self::readSlot($m['segment'], 1)['state'] === StatsSegment::STATE_BUSY
        ));
        proc_terminate($m['proc'], 15);
        $this->assertSame('slow', $call->result(), 'the request in progress was not finished');
        $this->assertSame(0, $this->waitExit($m['proc']));
        $err = self::readAll($m['pipes'][2]);
        $this->assertMatchesRegularExpression(
            "/own SIGTERM handler ran\n(.*\n)*onStop ran\nfinally ran\nloop ended\ndestructor ran\n/",
            $err
        );
        $this->assertSame(1, substr_count($err, 'onStop ran'));
        $s = self::readSlot($m['segment'], 1);
        $this->assertSame(
            [StatsSegment::STATE_STOPPING, StatsSegment::EXIT_SERVICE_SHUTDOWN],
            [$s['state'], $s['exitReason']]
        );
    }

    public function testSigtermWhileIdleEndsAtOnce(): void
    {
        [$m] = $this->start();
        $t = microtime(true);
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $this->assertLessThan(1.5, microtime(true) - $t);
        $this->assertStringContainsString("onStop ran\nfinally ran\nloop ended\n", self::readAll($m['pipes'][2]));
    }

    public function testWorksWithoutExplicitInitialize(): void
    {
        // Stand-alone mode: fd 3 in, fd 4 out; the first iteration initializes.
        $dir = $this->tempDir();
        file_put_contents("$dir/in", "0Q,3b100,17cnative.echo.0.raw,1l0,2kHi,0z\n");
        [$p, $pipes] = $this->spawn(self::FIXTURE, [3 => ['file', "$dir/in", 'r'], 4 => ['file', "$dir/out", 'w']]);
        $this->assertSame(0, $this->waitExit($p), self::readAll($pipes[2]));
        $this->assertMatchesRegularExpression(
            "/^0A,3b100,\\d+snative:\\d+\\/0,2qHi,0z\n\\z/",
            file_get_contents("$dir/out")
        );
    }

    public function testAFailedInitializeThrowsAFaultSayingWhatToDo(): void
    {
        [$p, $pipes] = $this->spawn(self::FIXTURE, []);
        $this->assertSame(1, $this->waitExit($p));
        $err = self::readAll($pipes[2]);
        $this->assertStringContainsString(
            'native: pluton::Fault=-55 (noFauxSTDIN:shell mode without fd 3) \'no request source: fd 3 is not open; '
            . 'run the service under plutonManager, with plTest, or as ./svc 3<request 4>response\'',
            $err
        );

        $dir = $this->tempDir();
        [$p, $pipes] = $this->spawn(self::FIXTURE, [], ['plutonAcceptSocket' => "$dir/no/such/dir/x.socket"]);
        $this->assertSame(1, $this->waitExit($p));
        $this->assertStringContainsString(
            "cannot listen on plutonAcceptSocket=$dir/no/such/dir/x.socket",
            self::readAll($pipes[2])
        );

        // Without ext-sockets (php -n): a fault that names the extension.
        [$p, $pipes] = $this->spawn(self::FIXTURE, [], ['plutonAcceptSocket' => "$dir/x.socket"], [], ['-n']);
        $this->assertSame(1, $this->waitExit($p));
        $this->assertStringContainsString('the PHP extension sockets is not loaded', self::readAll($pipes[2]));
    }
}
