<?php

declare(strict_types=1);

namespace Pluton\Tests;

/**
 * tools/dist/php.sh builds a Composer package tarball; installing it is
 * unpacking it, and its example runs from there.
 */
final class DistTest extends Harness
{
    public function testTarballInstallsAndRuns(): void
    {
        $root = dirname(__DIR__, 3);
        $version = trim((string) file_get_contents("$root/go/version/VERSION"));
        $out = $this->tempDir();
        foreach (['bash', 'tar', 'gzip'] as $tool) {
            if (trim((string) shell_exec('command -v ' . $tool)) === '') {
                $this->markTestSkipped("$tool is not installed: cannot build or unpack the tarball");
            }
        }
        exec(
            'DIST_DIR=' . escapeshellarg($out) . ' bash ' . escapeshellarg("$root/tools/dist/php.sh") . ' 2>&1',
            $lines,
            $rc
        );
        $this->assertSame(0, $rc, implode("\n", $lines));
        $tarball = "$out/pluton-php-$version.tar.gz";
        $this->assertFileExists($tarball);

        $install = $this->tempDir();
        exec('tar -xzf ' . escapeshellarg($tarball) . ' -C ' . escapeshellarg($install) . ' 2>&1', $lines, $rc);
        $this->assertSame(0, $rc, implode("\n", $lines));
        $pkg = "$install/pluton-php-$version";
        $files = ['composer.json', 'autoload.php', 'README.md', 'LICENSE', 'src/Service.php', 'src/Client.php',
            'examples/echo.php'];
        foreach ($files as $f) {
            $this->assertFileExists("$pkg/$f");
        }
        $this->assertDirectoryDoesNotExist("$pkg/tests");
        $this->assertTrue(is_executable("$pkg/examples/echo.php"));

        $composer = json_decode((string) file_get_contents("$pkg/composer.json"), true);
        $this->assertSame('pluton/pluton', $composer['name']);
        $this->assertSame($version, $composer['version']);
        $this->assertSame(['Pluton\\' => 'src/'], $composer['autoload']['psr-4']);
        $this->assertSame('BSD-3-Clause', $composer['license']);
        $this->assertArrayHasKey('ext-sockets', $composer['require']);
        $this->assertArrayHasKey('ext-pcntl', $composer['suggest']);
        $this->assertArrayHasKey('ext-ffi', $composer['suggest']);
        $this->assertStringContainsString(
            'Copyright (c) 2026 The Pluton for Go authors',
            (string) file_get_contents("$pkg/LICENSE")
        );

        // The example runs from the unpacked copy, with the copy's classes.
        file_put_contents("$install/in", "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,5kHello,0z\n");
        [$p, $pipes] = $this->spawn(
            "$pkg/examples/echo.php",
            [3 => ['file', "$install/in", 'r'], 4 => ['file', "$install/out", 'w']]
        );
        $this->assertSame(0, $this->waitExit($p), self::readAll($pipes[2]));
        $this->assertMatchesRegularExpression(
            "/^0A,3b100,12aplSend:26446,\\d+secho:\\d+\\/0,5qHello,0z\n\\z/",
            (string) file_get_contents("$install/out")
        );

        $probe = 'require $argv[1]; echo (new ReflectionClass(Pluton\Service::class))->getFileName(), " ",'
            . ' Pluton\Client::getAPIVersion(), " ", PLUTON_KEEPAFFINITY_ATTR;';
        $got = shell_exec(
            escapeshellarg(PHP_BINARY) . ' -r ' . escapeshellarg($probe) . ' ' . escapeshellarg("$pkg/autoload.php")
        );
        $this->assertSame("$pkg/src/Service.php $version 8", $got);
    }
}
