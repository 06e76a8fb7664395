<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** A lock or waitForChange that did not succeed within its timeout. */
final class CoordTimeout extends CoordError
{
}
