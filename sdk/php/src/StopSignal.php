<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Thrown by the service's SIGTERM handler when the signal comes while the
 * loop waits for a request, to end the wait at once.
 *
 * @internal
 */
final class StopSignal extends \RuntimeException
{
}
