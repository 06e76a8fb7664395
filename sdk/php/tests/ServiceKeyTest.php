<?php

declare(strict_types=1);

namespace Pluton\Tests;

use PHPUnit\Framework\TestCase;
use Pluton\ServiceKey;

final class ServiceKeyTest extends TestCase
{
    public function testParsesAKey(): void
    {
        $k = ServiceKey::parse('system.echo.0.raw');
        $this->assertSame(
            ['system', 'echo', '0', 'raw'],
            [$k->application, $k->function, $k->version, $k->serialization]
        );
        $this->assertSame(ServiceKey::SERIALIZATION_RAW, $k->serializationCode());
        $this->assertSame(114, $k->serializationCode());
        $this->assertSame('system..0.raw', $k->wildcard());
        $this->assertSame('system.echo.0.raw', (string) $k);
        $this->assertSame(
            ServiceKey::SERIALIZATION_JSON,
            ServiceKey::parse('AddressBook.Get.123456.JSON')->serializationCode()
        );
    }

    /** @return array<string,array{0:string,1:string}> */
    public static function badKeys(): array
    {
        return [
            'three parts' => ['a.b.0', 'need four dot-separated tokens'],
            'trailing dot' => ['system.echo.0.raw.', 'more than four dot-separated tokens'],
            'empty application' => ['.echo.0.raw', 'Application Name length is not in the range 1-32 characters'],
            'long application' => [str_repeat(
                'a',
                33
            ) . '.echo.0.raw', 'Application Name length is not in the range 1-32 characters'],
            'empty function' => ['system..0.raw', 'Service Function is zero length'],
            'long function' => ['system.' . str_repeat(
                'f',
                33
            ) . '.0.raw', 'Service Function length is greater than 32 characters'],
            'empty version' => ['system.echo..raw', 'Service Version length is not in the range 1-6 characters'],
            'long version' => ['system.echo.1234567.raw', 'Service Version length is not in the range 1-6 characters'],
            'non-numeric version' => ['system.echo.1a.raw', 'version is not a positive integer'],
            'leading zero' => ['system.echo.034.raw', 'version has ambiguous leading zero'],
            'double zero' => ['system.echo.00.raw', 'version has ambiguous leading zero'],
            'zero before a non-digit' => ['system.echo.0x1.raw', 'version has ambiguous leading zero'],
            'empty serialization' => ['system.echo.0.', 'serialization is zero length'],
            'case matters' => ['system.echo.0.RAW', 'serialization type is unrecognized'],
            'slash' => ['sys/tem.echo.0.raw', "contains '/'"],
            'slash before length checks' => [str_repeat('a', 40) . '/.echo.0.raw', "contains '/'"],
            'nul' => ["system.ec\0ho.0.raw", 'contains a NUL byte'],
        ];
    }

    /** @dataProvider badKeys */
    public function testRejectsBadKeys(string $key, string $message): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage($message);
        ServiceKey::parse($key);
    }

    public function testWildcardConfigKeyMayHaveEmptyFunction(): void
    {
        $this->assertSame('', ServiceKey::parse('AddressBook..0.JSON', false)->function);
    }

    public function testSplitIsLenient(): void
    {
        $k = ServiceKey::split('only');
        $this->assertSame(['only', '', '', ''], [$k->application, $k->function, $k->version, $k->serialization]);
        $this->assertSame(ServiceKey::SERIALIZATION_UNKNOWN, $k->serializationCode());
    }
}
