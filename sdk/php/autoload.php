<?php

declare(strict_types=1);

/*
 * A PSR-4 autoloader for Pluton\ -> src/, for use without Composer:
 *
 *     require '/path/to/pluton-php/autoload.php';
 *
 * With Composer, its own autoloader does the same from composer.json.
 */
spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Pluton\\', 7) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 7)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

require_once __DIR__ . '/src/constants.php';
require_once __DIR__ . '/src/aliases.php';
