use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Pluton::Client;
use Pluton::Packet;

# The service loop of docs/protocol.md section 8 and the stats segment v2,
# with this test as the manager (one echo instance, fd 3/4/5, plutonSlot=0).

my $KEY = 'system.echo.0.raw';

sub start_one {
    my (%seg) = @_;
    my $dir = temp_dir();
    my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/$KEY.socket", Listen => 20)
        or die "listen: $!";
    my $segfh = make_segment("$dir/$KEY.mmap", slots => 1, version => 2, %seg);
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = spawn_echo(fds => { 3 => $listen, 4 => $segfh, 5 => $wr }, env => { plutonSlot => 0 },
        stderr => "$dir/echo.err");
    close $wr;
    my $p = { dir => $dir, seg => "$dir/$KEY.mmap", pid => $pid, reports => $rd, listen => $listen };
    wait_until(10, sub { read_slot($p->{seg}, 0)->{state} == 1 }) or BAIL_OUT('the instance is not idle');
    return $p;
}

sub stop_one {
    my $p = shift;
    kill 'TERM', $p->{pid};
    return wait_exit($p->{pid}, 5);
}

sub connect_raw {
    my $p = shift;
    return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$p->{dir}/$KEY.socket") or die "connect: $!";
}

# reads until EOF or $secs
sub read_all {
    my ($s, $secs) = @_;
    my $buf = '';
    my $until = time + $secs;
    while (time < $until) {
        my $rin = '';
        vec($rin, fileno $s, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.05);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return $buf;
}

# slot v2: the request's identity; busy until the next wait
{
    my $p = start_one();
    my $c = Pluton::Client->new(name => 'loopTest', lookup => $p->{dir});
    my $call = $c->submit($KEY, 'after', context => { 'echo.sleepAfter' => 2 });
    $c->wait($call);
    is($call->result, 'after', 'the response came before the sleep after it');
    ok(wait_until(1, sub { read_slot($p->{seg}, 0)->{responses} == 1 }), 'the response is counted at once');
    my $s = read_slot($p->{seg}, 0);
    is($s->{state}, 2, 'the instance stays busy after responding, until its next wait');
    is($s->{client_name}, "loopTest:$$", 'the slot names the client');
    is($s->{request_id}, $call->{id}, 'and the request id');
    is($s->{recorder_index}, 0xFFFF_FFFF, 'not recording');
    ok(wait_until(4, sub { read_slot($p->{seg}, 0)->{state} == 1 }), 'idle once it waits again');
    is(stop_one($p), 0, 'stops');
}

# silent, partial and oversize connections do not hold the instance
{
    my $p = start_one(read_timeout_ms => 1500, max_size => 1000);
    my @silent = map { connect_raw($p) } 1 .. 3;
    my $partial = connect_raw($p);
    syswrite($partial, '0Q,3b100,17csystem.echo.0.raw,5kHel');
    my $c = Pluton::Client->new(lookup => $p->{dir}, timeout => 4);
    my $t0 = time;
    is($c->call($KEY, 'normal'), 'normal', 'a normal request is served');
    my $dt = time - $t0;
    ok($dt < 1, "without waiting for the silent connections ($dt s)");

    my $big = connect_raw($p);
    $t0 = time;
    syswrite($big, '0Q,3b123,7aclnt:42,17csystem.echo.0.raw,2000000k');
    my $resp = read_all($big, 3);
    $dt = time - $t0;
    my $f = eval { Pluton::Packet::decode($resp, 'A') } || {};
    is($f->{p}, 3, 'an oversize length prefix: fault 3 (requestTooLarge)');
    is($f->{r}, 'request data of 2000000 bytes exceeds maximum-request-size 1000', 'its text');
    is("$f->{b}|$f->{a}", '123|clnt:42', 'with the id and client name already read');
    ok($dt < 1, "answered at once, before any body ($dt s)");

    my @closed = map { read_all($_, 3) } @silent, $partial;
    is_deeply(\@closed, [ ('') x 4 ], 'the silent and partial connections are closed at their deadline');
    is($c->call($KEY, 'again'), 'again', 'the instance serves on');
    my $s = read_slot($p->{seg}, 0);
    is($s->{faults}, 1, 'the fault is counted');
    is(stop_one($p), 0, 'stops');
    my @e = map { @{ $_->{entries} } } read_records($p->{reports}, 2, 0);
    is(scalar(grep { $_->{outcome} == 1 } @e), 4, 'four read errors in the report');
}

# a full pending set drops its oldest connection first
{
    my $p = start_one(read_timeout_ms => 4000, max_pending => 2);
    my @silent = map { my $s = connect_raw($p); sleep 0.2; $s } 1 .. 3;
    my $t0 = time;
    is(read_all($silent[0], 3), '', 'the oldest silent connection is closed');
    my $dt = time - $t0;
    ok($dt < 2.5, "when the third arrives, long before its deadline ($dt s)");
    my $c = Pluton::Client->new(lookup => $p->{dir});
    is($c->call($KEY, 'still'), 'still', 'and the instance serves');
    is(stop_one($p), 0, 'stops');
}

# affinity: the instance waits for the client's next request (state 3) at
# most affinity-timeout, and a stop ends the wait at once
{
    my $p = start_one(affinity => 1);
    my $c = Pluton::Client->new(lookup => $p->{dir});
    my $r = Pluton::Client::Request->new($KEY, 'a1', keep_affinity => 1, no_retry => 1);
    $c->add_request($r);
    $c->wait_one($r);
    is($r->response, 'a1', 'a keepAffinity request');
    ok(wait_until(2, sub { read_slot($p->{seg}, 0)->{state} == 3 }), 'the instance waits on the connection (state 3)');
    ok(wait_until(4, sub { read_slot($p->{seg}, 0)->{state} == 1 }), 'and is idle again after affinity-timeout (1 s)');
    is($c->call($KEY, 'next'), 'next', 'it serves another client');

    $r = Pluton::Client::Request->new($KEY, 'a2', keep_affinity => 1, no_retry => 1);
    my $q = start_one(affinity => 30);
    $c = Pluton::Client->new(lookup => $q->{dir});
    $c->add_request($r);
    $c->wait_one($r);
    ok(wait_until(2, sub { read_slot($q->{seg}, 0)->{state} == 3 }), 'a second instance in affinity wait');
    my $t0 = time;
    kill 'TERM', $q->{pid};
    is(wait_exit($q->{pid}, 5), 0, 'SIGTERM during the affinity wait: exit 0');
    my $dt = time - $t0;
    ok($dt < 2.5, "at once ($dt s), not after the 30 s affinity timeout");
    is(read_slot($q->{seg}, 0)->{exit_reason}, 1, 'exitReason serviceShutdown');
    is(stop_one($p), 0, 'stops');
}

# the recorder, cycle 3
{
    my $rec = temp_dir();
    my $p = start_one(recorder_prefix => "$rec/r.", recorder_cycle => 3);
    my $c = Pluton::Client->new(name => 'rec', lookup => $p->{dir});
    is($c->call($KEY, "req$_"), "req$_", "request $_") for 1 .. 5;
    my $s = read_slot($p->{seg}, 0);
    is($s->{recorder_index}, 2, 'the slot names the recorder index of the last request (5 mod 3)');
    is(stop_one($p), 0, 'stops');
    opendir(my $dh, $rec) or die;
    my @files = sort grep { !/^\./ } readdir $dh;
    my $pid = $p->{pid};
    is_deeply(\@files, [ (map { "r.in.$pid.0000$_" } 0 .. 2), (map { "r.out.$pid.0000$_" } 0 .. 2) ],
        'exactly three in-files and three out-files, 00001, 00002, 00000');
    is((stat "$rec/r.in.$pid.00001")[2] & 07777, 0640, 'mode 0640');
    like(slurp("$rec/r.in.$pid.00001"), qr/^0Q,.*4kreq4,0z\n\z/, 'in-file 00001 holds request 4 as read');
    like(slurp("$rec/r.out.$pid.00002"), qr/^0A,.*4qreq5,0z\n\z/, 'out-file 00002 holds response 5 as written');
    # a recorded request replays by fd redirection
    open(my $in, '<', "$rec/r.in.$pid.00000") or die;
    open(my $out, '>', "$rec/replay") or die;
    my $r = spawn_echo(fds => { 3 => $in, 4 => $out });
    is(wait_exit($r, 10), 0, 'the replay exits 0');
    (my $want = slurp("$rec/r.out.$pid.00000")) =~ s/\d+secho:\d+\/0,//;
    (my $got = slurp("$rec/replay")) =~ s/\d+secho:\d+\/0,//;
    is($got, $want, 'and gives the recorded response (but for the s field)');
}

done_testing;
