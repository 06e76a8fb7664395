use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Pluton::Packet;

# A client that takes none of its response for request-read-timeout (0.5 s
# here) is dropped: the connection closed, a writeError entry, no response
# counted, and the instance serves the next connection (docs/protocol.md
# section 8.2, "Bounded waits for large payloads"). A large response on
# serve's fast path and on the general one (keepAffinity), a client that
# closes with its response unread, small responses piling up on an affinity
# connection, and the stop signal during a stall.

plan skip_all => 'File::Map is not installed (the fast path needs the mapped slot)'
    unless eval { require File::Map; 1 };

local $SIG{PIPE} = 'IGNORE';    # the writes of a dropped client fail with EPIPE

my $KEY = 'perl.echo.0.raw';
my $BIG = 4 * 1024 * 1024;    # far more than the socket buffers hold
my $echo = managed_echo(key => $KEY, read_timeout_ms => 500);
my ($dir, $seg, $pid, $rd) = @$echo{qw(dir seg pid reports)};
ok(wait_until(10, sub { read_slot($seg, 0)->{state} == 1 }), 'the instance is idle');

sub conn { return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$dir/$KEY.socket") || die "connect: $!" }

# the response on $s, or undef (none within 5 s, or closed without one)
sub read_response {
    my $s = shift;
    my $buf = '';
    my $until = time + 5;
    while ((my $left = $until - time) > 0) {
        my $rin = '';
        vec($rin, fileno $s, 1) = 1;
        last unless select my $rout = $rin, undef, undef, $left;
        my $r = sysread $s, $buf, 65536, length $buf;
        last if !$r;
        last if $buf =~ /0z\n\z/;
    }
    return $buf eq q{} ? undef : { fields => Pluton::Packet::decode($buf, q{A}) };
}

sub write_whole {
    my ($s, $bytes) = @_;
    for (my $off = 0; $off < length $bytes;) {
        my $n = syswrite $s, $bytes, length($bytes) - $off, $off;
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# a client that sends a request for a response of $BIG bytes and reads none
# of it (the request itself is read whole by the instance)
sub mute {
    my %r = @_;
    my $s = conn();
    write_whole($s, Pluton::Packet::encode_request(service_key => $KEY, data => 'm' x $BIG, %r)) or die "write: $!";
    return $s;
}

# the next client: served, and how long after $t0
sub next_client {
    my ($t0, $data) = @_;
    my $s = conn();
    syswrite $s, Pluton::Packet::encode_request(service_key => $KEY, id => 2, data => $data);
    my $p = read_response($s);
    return ($p && $p->{fields}{q}, time - $t0);
}

sub counters {
    my ($want, $name) = @_;
    my $got;
    wait_until(5, sub { $got = [ @{ read_slot($seg, 0) }{qw(requests responses)} ]; "@$got" eq "@$want" });
    return is_deeply($got, $want, $name);
}

my @want;    # the report entries, "outcome/request bytes"
my ($n, $dropped) = (0, 0);
my $s = conn();
syswrite $s, Pluton::Packet::encode_request(service_key => $KEY, id => 1, data => 'hello');
is(read_response($s)->{fields}{q}, 'hello', 'a first request (the key is known from now on)');
push @want, '4/5';
$n++;

for my $case ([ 'serve\'s fast path', () ], [ 'the general path (keepAffinity)', keep_affinity => 1 ]) {
    my ($what, %r) = @{$case};
    my $m = mute(id => 3, %r);
    my $t0 = time;
    my ($got, $dt) = next_client($t0, 'next');
    is($got, 'next', "$what: the client after a mute one is served");
    ok($dt > 0.3 && $dt < 3, "$what: once the mute one took nothing for 0.5 s ($dt s)");
    $n += 2;
    $dropped++;
    push @want, "2/$BIG", '4/4';
    counters([ $n, $n - $dropped ], "$what: the dropped response is not counted");
    my $r = sysread $m, my $b, 65536;
    ok(defined $r && $r > 0, "$what: the mute client had part of its response");
    1 while sysread $m, $b, 65536;    # and then the end: closed
    close $m;
}

# a client that closes with its large response unread has gone: the
# response counts as sent (as EPIPE), and the next client is served at once
{
    my $m = mute(id => 5);
    sysread $m, my $b, 65536;
    close $m;
    my $t0 = time;
    my ($got, $dt) = next_client($t0, 'after');
    is($got, 'after', 'a client that closes with part of its response unread: the next one is served');
    ok($dt < 0.4, "without waiting for the bound ($dt s)");
    $n += 2;
    push @want, "4/$BIG", '4/5';
    counters([ $n, $n - $dropped ], 'the response counts as sent');
}

# small responses of an affinity connection that reads none of them: each
# fits, until the socket's buffer is full and the next one waits for room;
# the requests after that one are not read (the connection is closed)
{
    my $c = conn();
    my $size = 60_000;
    my $served = 0;
    for my $i (1 .. 12) {
        last unless write_whole($c, Pluton::Packet::encode_request(service_key => $KEY, id => 10 + $i,
            keep_affinity => 1, data => 'a' x $size));
        last unless wait_until(2, sub { read_slot($seg, 0)->{requests} == $n + 1 });
        $n++;
        $served++;
    }
    ok($served > 1 && $served < 12, "an affinity connection that reads nothing: $served requests served");
    $dropped++;
    push @want, ("4/$size") x ($served - 1), "2/$size";
    my $t0 = time;
    my ($got, $dt) = next_client($t0, 'next');
    is($got, 'next', 'the next client is served');
    ok($dt < 3, "within the bound ($dt s)");
    $n++;
    push @want, '4/4';
    counters([ $n, $n - $dropped ], 'the stalled response is not counted');
    close $c;
}

# the stop signal during a stall: the instance leaves within the bound
{
    my $m = mute(id => 4);
    sleep 0.1;
    my $t0 = time;
    kill 'TERM', $pid;
    my $st = wait_exit($pid, 5);
    my $dt = time - $t0;
    is($st, 0, 'SIGTERM during a stall: the instance stops');
    ok($dt < 2, "within the bound ($dt s)");
    push @want, "2/$BIG";
    close $m;
}

my @entries = map { @{ $_->{entries} } } read_records($rd, 5);
is_deeply([ map { "$_->{outcome}/$_->{request_bytes}" } @entries ], \@want,
    'the report: a writeError for each dropped client, ok for the others');
is(slurp("$dir/echo.err"), '', 'nothing on stderr in manager mode');
done_testing;
