<?php

declare(strict_types=1);

/*
 * The original PHP binding's class names PlutonClient, PlutonClientRequest
 * and PlutonService, for code written against it: aliases of the
 * Pluton\Compat classes, made when a name is first used.
 */
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
