<?php

declare(strict_types=1);

namespace Pluton\Tests;

use PHPUnit\Framework\TestCase;
use Pluton\Fault;
use Pluton\Spec;

final class FaultTest extends TestCase
{
    public function testLongMessageHasTheOriginalFormat(): void
    {
        $f = new Fault(Fault::SERVICE_NOT_FOUND, 'nosuch.thing.0.raw');
        $this->assertSame(
            "pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'",
            $f->getMessageLong()
        );
        $this->assertSame("pre pluton::Fault=-30 'nosuch.thing.0.raw'", $f->getMessageLong('pre', false));
        $this->assertSame($f->getMessageLong(), $f->getMessage());
        $this->assertSame('nosuch.thing.0.raw', $f->text());
        $this->assertSame('serviceNotFound', $f->name());
        $this->assertInstanceOf(\RuntimeException::class, $f);
        $this->assertSame(-30, $f->getFaultCode());
        $this->assertSame(-30, $f->getCode());
        $this->assertSame('serviceNotFound', $f->getFaultName());
        $this->assertSame('nosuch.thing.0.raw', $f->getFaultText());
        $this->assertTrue($f->hasFault());
    }

    public function testServiceCodesHaveNoName(): void
    {
        $f = new Fault(111, 'sleep time negative');
        $this->assertSame('', $f->getFaultName());
        $this->assertSame("pluton::Fault=111 'sleep time negative'", $f->getMessageLong());
    }

    public function testIsThrowable(): void
    {
        $this->expectException(Fault::class);
        $this->expectExceptionCode(Fault::SERVICE_TIMEOUT);
        throw new Fault(Fault::SERVICE_TIMEOUT, 'service timeout');
    }

    public function testNoFault(): void
    {
        $this->assertFalse((new Fault())->hasFault());
        $this->assertSame('noFault', (new Fault())->getFaultName());
    }

    public function testNamesAndTextsComeFromTheSpec(): void
    {
        foreach (Spec::FAULTS as $code => [$name, $english]) {
            $f = new Fault($code);
            $this->assertSame($name, $f->name());
            $this->assertSame("pluton::Fault=$code ($name:$english)", $f->getMessage());
        }
        $this->assertSame(
            "pluton::Fault=6 (serviceException:the service's own code failed) 'boom'",
            (new Fault(Fault::SERVICE_EXCEPTION, 'boom'))->getMessage()
        );
    }
}
