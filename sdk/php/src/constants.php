<?php

declare(strict_types=1);

/*
 * The original PHP binding's global attribute constants, for code written
 * against it. They equal the Pluton\Compat\ClientRequest::*_ATTR constants.
 */
if (!defined('PLUTON_NOWAIT_ATTR')) {
    define('PLUTON_NOWAIT_ATTR', 0x0001);
    define('PLUTON_NOREMOTE_ATTR', 0x0002);
    define('PLUTON_NORETRY_ATTR', 0x0004);
    define('PLUTON_KEEPAFFINITY_ATTR', 0x0008);
    define('PLUTON_NEEDAFFINITY_ATTR', 0x0010);
    define('PLUTON_ALL_ATTR', 0xFFFF);
}
