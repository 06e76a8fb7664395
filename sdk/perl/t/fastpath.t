use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Pluton::Packet;

# serve's common case (manager mode, slot mapped, no recorder or trace: one
# instance, this test as the manager) mixed with everything that leaves it:
# a key seen for the first time, noWait, keepAffinity, a request in two
# writes, a malformed packet, trailing bytes, a handler that dies, a
# handler that responds itself; the slot and the counters stay exact.

plan skip_all => 'File::Map is not installed (the fast path needs the mapped slot)'
    unless eval { require File::Map; 1 };

my $KEY = 'perl.echo.0.raw';
my $echo = managed_echo(key => $KEY, read_timeout_ms => 2000);
my ($dir, $seg, $pid, $rd) = @$echo{qw(dir seg pid reports)};
ok(wait_until(10, sub { read_slot($seg, 0)->{state} == 1 }), 'the instance is idle');

sub conn { return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$dir/$KEY.socket") || die "connect: $!" }

sub read_response {
    my $s = shift;
    my $buf = '';
    my $until = time + 10;
    while (time < $until) {
        my $r = sysread $s, $buf, 65536, length $buf;
        last if !$r;
        last if $buf =~ /0z\n\z/;
    }
    return $buf eq q{} ? undef : { fields => Pluton::Packet::decode($buf, q{A}) };
}

# the counters are written after the response: wait for them
sub counters {
    my ($want, $name) = @_;
    my $got;
    wait_until(5, sub { $got = [ @{ read_slot($seg, 0) }{qw(requests responses faults)} ]; "@$got" eq "@$want" });
    return is_deeply($got, $want, $name);
}

sub exchange {
    my (%r) = @_;
    my $s = conn();
    syswrite $s, Pluton::Packet::encode_request(service_key => $KEY, %r);
    return read_response($s);
}

my $n = 0;    # requests served so far
for my $i (1 .. 3) {    # the first goes the general way (a new key), the next ones the fast path
    my $p = exchange(id => 100 + $i, client_name => "fast:$i", data => "hello $i");
    $n++;
    is($p->{fields}{q}, "hello $i", "request $i echoed");
    is($p->{fields}{b}, 100 + $i, 'with its id');
    is($p->{fields}{a}, "fast:$i", 'and the client name');
    like($p->{fields}{s}, qr/^echo:$pid\/0$/, 'and the service name');
}
counters([ $n, $n, 0 ], 'the counters');
my $s = read_slot($seg, 0);
is($s->{request_id}, 103, 'the slot names the last request');
is($s->{client_name}, 'fast:3', 'and its client');

# a client name longer than the slot's 112 bytes is cut there
my $long = 'c' x 200;
is(exchange(id => 7, client_name => $long, data => 'long')->{fields}{a}, $long, 'a long client name');
$n++;
is(read_slot($seg, 0)->{client_name}, 'c' x 112, 'cut to 112 bytes in the slot');

# a fault from the handler (echo.sleepMS < 0 dies with a Pluton::Fault)
my $p = exchange(id => 8, context => { 'echo.sleepMS' => -1 }, data => 'x');
$n++;
is($p->{fields}{p}, 111, 'a handler that dies with a fault answers it');
is($p->{fields}{r}, 'sleep time negative', 'with its text');
counters([ $n, $n - 1, 1 ], 'counted as a fault');

# the handler responds itself, then sleeps (echo.sleepAfter)
$p = exchange(id => 9, context => { 'echo.sleepAfter' => 1 }, data => 'early');
$n++;
is($p->{fields}{q}, 'early', 'a response sent by the handler itself');
ok(wait_until(5, sub { read_slot($seg, 0)->{state} == 1 }), 'idle again after the sleep');

# noWait: no response, but served
{
    my $c = conn();
    syswrite $c, Pluton::Packet::encode_request(service_key => $KEY, id => 10, no_wait => 1, data => 'nw');
    $n++;
    ok(wait_until(5, sub { read_slot($seg, 0)->{requests} == $n }), 'a noWait request is served');
    my $r = sysread $c, my $b, 100;
    is($b // '', '', 'without a response');
}

# keepAffinity: two requests on one connection
{
    my $c = conn();
    syswrite $c, Pluton::Packet::encode_request(service_key => $KEY, id => 11, keep_affinity => 1, data => 'a1');
    is(read_response($c)->{fields}{q}, 'a1', 'the first request of an affinity');
    syswrite $c, Pluton::Packet::encode_request(service_key => $KEY, id => 12, data => 'a2');
    is(read_response($c)->{fields}{q}, 'a2', 'the second on the same connection');
    $n += 2;
}

# a request in two writes (pending), while another connection is served
{
    my $bytes = Pluton::Packet::encode_request(service_key => $KEY, id => 13, data => 'split');
    my $c = conn();
    syswrite $c, substr($bytes, 0, 10);
    sleep 0.2;
    is(exchange(id => 14, data => 'meanwhile')->{fields}{q}, 'meanwhile', 'another request while one is partial');
    syswrite $c, substr($bytes, 10);
    is(read_response($c)->{fields}{q}, 'split', 'the request in two writes');
    $n += 2;
}

# a malformed packet is dropped, a packet with trailing bytes is decoded the general way
{
    my $c = conn();
    syswrite $c, "0Q,x5bhello,0z\n";
    my $r = read_response($c);
    ok(!defined $r, 'a malformed packet: closed without a response');
    my $d = conn();
    syswrite $d, Pluton::Packet::encode_request(service_key => $KEY, id => 15, data => 'trail') . '3';
    is(read_response($d)->{fields}{q}, 'trail', 'a request with trailing bytes');
    $n++;
}

# a request incomplete at its first read and alone in the pending set is
# waited for on the fast path: its report entry's duration counts from the accept
{
    my $bytes = Pluton::Packet::encode_request(service_key => $KEY, id => 17, client_name => 'late:1', data => 'late request');
    my $c = conn();
    syswrite $c, substr($bytes, 0, 12);
    sleep 0.3;
    syswrite $c, substr($bytes, 12);
    my $p = read_response($c);
    is($p->{fields}{q}, 'late request', 'a request in two writes, alone');
    is($p->{fields}{a}, 'late:1', 'with its client name');
    $n++;
}

# large requests in many writes: read into place, answered whole
for my $size (65_536, 1_048_576) {
    my $data = join q{}, map { chr(65 + $_ % 26) } 0 .. $size - 1;
    my $bytes = Pluton::Packet::encode_request(service_key => $KEY, id => 18, data => $data);
    my $c = conn();
    for (my $i = 0; $i < length $bytes; $i += 50_000) {
        my $chunk = substr $bytes, $i, 50_000;
        for (my $off = 0; $off < length $chunk;) { $off += syswrite($c, $chunk, length($chunk) - $off, $off) // die "write: $!" }
        sleep 0.005;
    }
    my $p = read_response($c);
    ok($p && $p->{fields}{q} eq $data, "$size bytes in 50000-byte writes: echoed");
    $n++;
}

# a partial request whose client goes, and a silent one alone until its
# deadline (2 s): closed without an answer, not requests
{
    my $c = conn();
    syswrite $c, '0Q,3b1';
    sleep 0.2;
    close $c;
    my $t0 = time;
    my $d = conn();
    syswrite $d, '0Q,3b2';
    my $r = read_response($d);
    my $dt = time - $t0;
    ok(!defined $r, 'a silent connection: closed without a response');
    ok($dt > 1.5 && $dt < 5, "at its deadline ($dt s for 2 s)");
}

# still the same instance, fast again
is(exchange(id => 16, data => 'last')->{fields}{q}, 'last', 'the fast path once more');
$n++;
counters([ $n, $n - 1, 1 ], 'the counters are exact');
is(read_slot($seg, 0)->{pid}, $pid, 'one instance served everything');

kill 'TERM', $pid;
is(wait_exit($pid, 10), 0, 'it stops on SIGTERM');

my @entries = map { @{ $_->{entries} } } read_records($rd, 5);
is(scalar(grep { $_->{outcome} == 1 } @entries), 3, 'three read errors: the malformed, the gone and the silent connection');
my ($late) = grep { $_->{request_bytes} == 12 && $_->{outcome} == 4 } @entries;
ok($late && $late->{duration} >= 250_000, 'the late request lasted from its accept (' . ($late ? $late->{duration} : '?') . ' us)');
for my $size (65_536, 1_048_576) {
    ok((grep { $_->{request_bytes} == $size && $_->{response_bytes} == $size && $_->{outcome} == 4 } @entries),
        "the $size-byte request in the report");
}
done_testing;
