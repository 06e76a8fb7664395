#!/usr/bin/perl
# Bare Perl worker: the floor for the Perl SDK.
#
# Binds a Unix socket once, forks WORKERS children that accept one connection
# at a time, read one request packet, write the echo response packet and
# close; the same exchange as a Pluton service, without the SDK.
#
# usage: perl worker.pl SOCKET WORKERS
use strict;
use warnings;
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);

# scan: (id, name, data) when the packet is complete, () if more bytes are
# needed, undef as the only element if it is not a packet.
sub scan {
    my ($buf) = @_;
    my ($i, $len, $first) = (0, length $$buf, 1);
    my ($id, $name, $data) = ('0', '', '');
    for (;;) {
        pos($$buf) = $i;
        return () unless $$buf =~ /\G(\d*)/gc;
        my $d = length $1;
        my $j = $i + $d;
        return () if $j >= $len;
        return (undef) if $d == 0;
        my $n = $1;
        my $t = substr($$buf, $j, 1);
        return (undef) if $first && $t ne 'Q';
        $first = 0;
        my $start = $j + 1;
        return () if $start + $n + 1 > $len;
        if    ($t eq 'b') { $id   = substr($$buf, $start, $n) }
        elsif ($t eq 'a') { $name = substr($$buf, $start, $n) }
        elsif ($t eq 'k') { $data = substr($$buf, $start, $n) }
        elsif ($t eq 'z') { return ($id, $name, $data) }
        $i = $start + $n + 1;
    }
}

sub serve {
    my ($listener) = @_;
    my $sname  = "echo:$$/0";
    my $sfield = length($sname) . 's' . $sname . ',';
    for (;;) {
        accept(my $conn, $listener) or next;
        my $buf = '';
        my @got;
        for (;;) {
            my $r = sysread($conn, $buf, 65536, length $buf);
            last if !$r;
            @got = scan(\$buf);
            last if @got;
        }
        if (@got == 3) {
            my ($id, $name, $data) = @got;
            my $out = '0A,' . length($id) . 'b' . $id . ',';
            $out .= length($name) . 'a' . $name . ',' if length $name;
            $out .= $sfield;
            $out .= length $data ? length($data) . 'q' . $data . ",0z\n" : "0z\n";
            my $off = 0;
            while ($off < length $out) {
                my $w = syswrite($conn, $out, length($out) - $off, $off);
                last if !$w;
                $off += $w;
            }
        }
        close $conn;
    }
}

my ($path, $workers) = @ARGV;
unlink $path;
socket(my $listener, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
bind($listener, pack_sockaddr_un($path)) or die "bind: $!";
listen($listener, 1024) or die "listen: $!";
$SIG{PIPE} = 'IGNORE';
for (1 .. $workers) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        serve($listener);
        exit 0;
    }
}
1 while wait() > 0;
