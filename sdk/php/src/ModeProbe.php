<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Picks the service's mode from its descriptors and environment
 * (docs/protocol.md section 3): manager mode when fd 3 is a listening
 * socket, fd 4 a regular file and fd 5 a pipe; else accept mode when
 * plutonAcceptSocket is set; else stand-alone mode on fd 3 and fd 4.
 *
 * @internal
 */
final class ModeProbe
{
    public const HOW_TO_RUN = 'run the service under plutonManager, with plTest, '
        . 'or as ./svc 3<request 4>response';

    /**
     * The manager-mode descriptors, or null unless fd 3 is a listening
     * socket, fd 4 a regular file and fd 5 a pipe.
     *
     * @return array{0:resource,1:resource,2:resource}|null
     */
    public static function managerFds(): ?array
    {
        $opened = [];
        $want = [3 => [0140000, 'r+'], 4 => [0100000, 'r+'], 5 => [0010000, 'w']];
        foreach ($want as $fd => [$type, $mode]) {
            $fp = @fopen('php://fd/' . $fd, $mode);
            $st = $fp !== false ? @fstat($fp) : false;
            if ($fp !== false) {
                $opened[] = $fp;
            }
            if ($st === false || ($st['mode'] & 0170000) !== $type || ($fd === 3 && !self::isListening($fp))) {
                foreach ($opened as $o) {
                    fclose($o);
                }
                return null;
            }
        }
        return [$opened[0], $opened[1], $opened[2]];
    }

    /**
     * A listening socket bound at $path (accept mode), after removing
     * whatever is there.
     *
     * @throws Fault openAcceptSocketFailed
     */
    public static function listenAt(string $path): \Socket
    {
        $fail = static fn (string $why): Fault => new Fault(
            Fault::OPEN_ACCEPT_SOCKET_FAILED,
            "cannot listen on plutonAcceptSocket=$path: $why; unset plutonAcceptSocket or choose a writable path"
        );
        if ((file_exists($path) || is_link($path)) && !@unlink($path)) {
            throw $fail('cannot remove the file there');
        }
        $sock = @socket_create(AF_UNIX, SOCK_STREAM, 0);
        if ($sock === false) {
            throw $fail(socket_strerror(socket_last_error()));
        }
        if (!@socket_bind($sock, $path) || !@socket_listen($sock, 20)) {
            $why = socket_strerror(socket_last_error($sock));
            socket_close($sock);
            throw $fail($why);
        }
        return $sock;
    }

    /**
     * fd 3 and fd 4 for stand-alone mode.
     *
     * @return array{0:resource,1:resource|null}
     * @throws Fault noFauxSTDIN when fd 3 is not open
     */
    public static function standaloneFds(): array
    {
        $in = @fopen('php://fd/3', 'r');
        if ($in === false || self::isMainScript($in)) {
            if ($in !== false) {
                fclose($in);
            }
            throw new Fault(Fault::NO_FAUX_STDIN, 'no request source: fd 3 is not open; ' . self::HOW_TO_RUN);
        }
        $out = @fopen('php://fd/4', 'w');
        if ($out !== false && self::isMainScript($out)) {
            fclose($out);
            $out = false;
        }
        return [$in, $out === false ? null : $out];
    }

    /**
     * True if $fp is the script PHP is running: the CLI keeps it open on the
     * lowest free descriptor, which is 3 when the caller left 3 closed.
     *
     * @param resource $fp
     */
    private static function isMainScript($fp): bool
    {
        $script = get_included_files()[0] ?? '';
        $a = @fstat($fp);
        $b = $script !== '' ? @stat($script) : false;
        return $a !== false && $b !== false && $a['dev'] === $b['dev'] && $a['ino'] === $b['ino'];
    }

    /**
     * SO_ACCEPTCONN of a socket.
     *
     * @param resource $fp
     */
    private static function isListening($fp): bool
    {
        $sock = @socket_import_stream($fp);
        if (!$sock instanceof \Socket) {
            return false;
        }
        return @socket_get_option($sock, SOL_SOCKET, 30 /* SO_ACCEPTCONN */) === 1;
    }
}
