#!/usr/bin/perl
# Bare Perl worker: the floor for the Perl SDK.
#
# Binds a Unix socket once, forks WORKERS children that accept one connection
# at a time, read one request packet, write the echo response packet and
# close; the same exchange as a Pluton service, without the SDK.
#
# It is a floor at every size: the packet is read with sysread at an offset
# into one buffer, the rest of a netstring with its known length, never by
# concatenation; large data is written with syswrite at an offset of that
# buffer, without a copy.
#
# usage: perl worker.pl SOCKET WORKERS
use strict;
use warnings;
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);

use constant FIRST_READ => 65536;

# fill: read into $$buf at its end until it holds $want bytes; false when
# the peer closed first.
sub fill {
    my ($conn, $buf, $want) = @_;
    while (length($$buf) < $want) {
        my $r = sysread($conn, $$buf, $want - length($$buf) + FIRST_READ, length $$buf);
        return 0 if !$r;
    }
    return 1;
}

# read_request: (id, name, data offset, data length) of the packet read into
# $$buf, or () when the peer closed or sent something that is not a request.
sub read_request {
    my ($conn, $buf) = @_;
    $$buf = '';
    my ($i, $first) = (0, 1);
    my ($id, $name, $ds, $dl) = ('0', '', 0, 0);
    for (;;) {
        pos($$buf) = $i;
        $$buf =~ /\G\d*/gc;
        my $j = pos($$buf);
        if ($j >= length $$buf) {
            return () unless fill($conn, $buf, length($$buf) + 1);
            next;
        }
        return () if $j == $i;
        my $n = substr($$buf, $i, $j - $i);
        my $t = substr($$buf, $j, 1);
        return () if $first && $t ne 'Q';
        $first = 0;
        my $start = $j + 1;
        my $end   = $start + $n + 1;
        return () unless fill($conn, $buf, $end);
        if    ($t eq 'b') { $id   = substr($$buf, $start, $n) }
        elsif ($t eq 'a') { $name = substr($$buf, $start, $n) }
        elsif ($t eq 'k') { ($ds, $dl) = ($start, $n) }
        elsif ($t eq 'z') { return ($id, $name, $ds, $dl) }
        $i = $end;
    }
}

# write_all: syswrite $len bytes of $$s from $off; false when the peer has gone.
sub write_all {
    my ($conn, $s, $off, $len) = @_;
    while ($len > 0) {
        my $w = syswrite($conn, $$s, $len, $off);
        return 0 if !$w;
        ($off, $len) = ($off + $w, $len - $w);
    }
    return 1;
}

sub serve {
    my ($listener) = @_;
    my $sname  = "echo:$$/0";
    my $sfield = length($sname) . 's' . $sname . ',';
    my $buf    = '';
    for (;;) {
        accept(my $conn, $listener) or next;
        my @got = read_request($conn, \$buf);
        if (@got == 4) {
            my ($id, $name, $ds, $dl) = @got;
            my $out = '0A,' . length($id) . 'b' . $id . ',';
            $out .= length($name) . 'a' . $name . ',' if length $name;
            $out .= $sfield;
            if ($dl == 0) {
                $out .= "0z\n";
                write_all($conn, \$out, 0, length $out);
            } elsif ($dl <= FIRST_READ) {
                $out .= $dl . 'q' . substr($buf, $ds, $dl) . ",0z\n";
                write_all($conn, \$out, 0, length $out);
            } else {
                my $tail = ",0z\n";
                $out .= $dl . 'q';
                write_all($conn, \$out, 0, length $out)
                  && write_all($conn, \$buf, $ds, $dl)
                  && write_all($conn, \$tail, 0, 4);
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
