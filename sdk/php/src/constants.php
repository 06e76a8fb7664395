<?php

declare(strict_types=1);

/*
 * The original PHP binding's global names, for code written against it:
 * the attribute constants (equal to the Pluton\Compat\ClientRequest::*_ATTR
 * constants) and the classes PlutonClient, PlutonClientRequest and
 * PlutonService (aliases of the Pluton\Compat classes, made on first use).
 */
if (!defined('PLUTON_NOWAIT_ATTR')) {
    define('PLUTON_NOWAIT_ATTR', 0x0001);
    define('PLUTON_NOREMOTE_ATTR', 0x0002);
    define('PLUTON_NORETRY_ATTR', 0x0004);
    define('PLUTON_KEEPAFFINITY_ATTR', 0x0008);
    define('PLUTON_NEEDAFFINITY_ATTR', 0x0010);
    define('PLUTON_ALL_ATTR', 0xFFFF);

    spl_autoload_register(static function (string $class): void {
        $compat = [
            'PlutonClient' => Pluton\Compat\Client::class,
            'PlutonClientRequest' => Pluton\Compat\ClientRequest::class,
            'PlutonService' => Pluton\Compat\Service::class,
        ];
        if (isset($compat[$class])) {
            class_alias($compat[$class], $class);
        }
    });
}
