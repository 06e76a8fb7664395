use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Pluton::Client;

# Manager mode, with this test as the manager: a listening socket on fd 3,
# the stats segment on fd 4, the report pipe on fd 5, plutonSlot=<n>.

my $KEY = 'system.echo.0.raw';

sub start_pool {
    my (%o) = @_;
    my $dir = temp_dir();
    my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/$KEY.socket", Listen => 20)
        or die "listen: $!";
    my $seg = "$dir/$KEY.mmap";
    my $segfh = make_segment($seg, slots => $o{slots}, affinity => $o{affinity},
        max_requests => $o{max_requests}, magic => $o{magic}, version => $o{version});
    pipe(my $rd, my $wr) or die "pipe: $!";
    my @pids;
    for my $slot (0 .. $o{slots} - 1) {
        push @pids, spawn_echo(fds => { 3 => $listen, 4 => $segfh, 5 => $wr },
            env => { plutonSlot => $slot }, stderr => "$dir/echo.err");
    }
    close $wr;
    return { dir => $dir, seg => $seg, reports => $rd, pids => \@pids, listen => $listen };
}

sub slots_state {
    my ($p, $state) = @_;
    return !grep { read_slot($p->{seg}, $_)->{state} != $state } 0 .. $#{ $p->{pids} };
}

my $p = start_pool(slots => 3);
my $seg = $p->{seg};
my @ALL_PIDS = @{ $p->{pids} };
my @RECS;
ok(wait_until(10, sub { slots_state($p, 1) }), 'all three instances are idle (state 1)');
for my $i (0 .. 2) {
    my $s = read_slot($seg, $i);
    is($s->{pid}, $p->{pids}[$i], "slot $i holds its pid");
    ok($s->{since} > (time - 60) * 1e6 && $s->{since} <= (time + 1) * 1e6, "slot $i since is now, in us");
}

my $client = Pluton::Client->new(name => 'mgrTest', lookup => $p->{dir});
is($client->call($KEY, 'Hello'), 'Hello', 'a request in manager mode');

# parallel requests on three instances
{
    my @r = map { Pluton::Client::Request->new($KEY, "r$_", context => { 'echo.sleepMS' => 1000 }) } 1 .. 3;
    my $t0 = time;
    $client->run(@r);
    my $dt = time - $t0;
    is_deeply([ map { $_->response } @r ], [qw(r1 r2 r3)], 'three parallel responses');
    ok(!grep({ $_->has_fault } @r), 'no faults');
    ok($dt < 2.2, "they ran in parallel ($dt s for 3 x 1 s)");
    my %names = map { $_->service_name => 1 } @r;
    is(scalar keys %names, 3, 'served by three instances');
}

# wait_any hands back the fastest first
{
    my @r = map { Pluton::Client::Request->new($KEY, "w$_", context => { 'echo.sleepMS' => 100 + 250 * (2 - $_) }) } 0 .. 2;
    $client->add_request($_) for @r;
    my @order;
    while (my $done = $client->wait_any) { push @order, $done->response }
    is_deeply(\@order, [qw(w2 w1 w0)], 'wait_any in completion order');
}

# a fault, and noWait
eval { $client->call($KEY, 'f', context => { 'echo.sleepMS' => -5 }) };
is(ref $@ && $@->code, 111, 'service fault in manager mode');
is($client->call($KEY, 'nw', no_wait => 1), '', 'noWait');

# counters: 1 + 3 + 3 + 1 fault + 1 noWait = 9 requests
ok(wait_until(5, sub {
    my ($rq, $rs, $f) = (0, 0, 0);
    for (0 .. 2) { my $s = read_slot($seg, $_); $rq += $s->{requests}; $rs += $s->{responses}; $f += $s->{faults} }
    $rq == 9 && $rs == 8 && $f == 1;
}), 'requests 9, responses 8, faults 1 across the slots') or diag explain [ map { read_slot($seg, $_) } 0 .. 2 ];
ok((grep { read_slot($seg, $_)->{busy_us} >= 950_000 } 0 .. 2) == 3, 'busy time is counted');

# affinity: state 3 while waiting on the connection, not busy
{
    my $r = Pluton::Client::Request->new($KEY, 'a1', keep_affinity => 1, no_retry => 1);
    $client->add_request($r);
    $client->wait_one($r);
    is($r->response, 'a1', 'keepAffinity response');
    my ($pid) = $r->service_name =~ /:(\d+)\//;
    my ($slot) = grep { $p->{pids}[$_] == $pid } 0 .. 2;
    ok(wait_until(3, sub { read_slot($seg, $slot)->{state} == 3 }), 'the instance waits in state 3 (affinity)');
    $r->set_request_data('a2');
    $client->add_request($r);
    $client->wait_one($r);
    is($r->service_name, "echo:$pid/0", 'the same instance again');
    $r->keep_affinity(0);
    $r->set_request_data('a3');
    $client->add_request($r);
    $client->wait_one($r);
    is($r->response, 'a3', 'last on the connection');
    ok(wait_until(3, sub { read_slot($seg, $slot)->{state} == 1 }), 'back to idle');
}

# SIGTERM while busy: finish, then stop with the reason from shutdownRequest
{
    my $r = Pluton::Client::Request->new($KEY, 'busy', context => { 'echo.sleepMS' => 800 });
    $client->add_request($r);
    $client->wait_sent;
    my $slot;
    ok(wait_until(3, sub { ($slot) = grep { read_slot($seg, $_)->{state} == 2 } 0 .. 2; defined $slot }),
        'one instance is busy');
    write_slot32($seg, $slot, 52, 7);    # shutdownRequest = excessProcesses
    kill 'TERM', $p->{pids}[$slot];
    sleep 0.2;
    is(read_slot($seg, $slot)->{state}, 2, 'still busy after SIGTERM');
    $client->wait_one($r);
    ok(!$r->has_fault, 'the busy request completed') or diag $r->fault->message;
    is($r->response, 'busy', 'response');
    is(wait_exit($p->{pids}[$slot], 5), 0, 'then it exited 0');
    my $s = read_slot($seg, $slot);
    is($s->{state}, 4, 'state stopping');
    is($s->{exit_reason}, 7, 'exitReason copied from shutdownRequest');
    push @RECS, read_records($p->{reports}, 3, 1);
    my ($final) = grep { $_->{pid} == $p->{pids}[$slot] } @RECS;
    ok($final, 'a final report');
    $p->{pids}[$slot] = 0;
}

# SIGTERM while idle: exit 0 at once
{
    my ($slot) = grep { $p->{pids}[$_] } 0 .. 2;
    my $pid = $p->{pids}[$slot];
    ok(wait_until(3, sub { read_slot($seg, $slot)->{state} == 1 }), 'idle');
    write_slot32($seg, $slot, 52, 1);
    push @RECS, read_records($p->{reports}, 0.2, 0);    # drain anything sent
    my $t0 = time;
    kill 'TERM', $pid;
    my $st = wait_exit($pid, 5);
    my $dt = time - $t0;
    is($st, 0, 'idle instance exits 0 on SIGTERM');
    ok($dt < 1, "within 1 s ($dt s)");
    my $s = read_slot($seg, $slot);
    is($s->{state}, 4, 'state stopping');
    is($s->{exit_reason}, 1, 'exitReason serviceShutdown');
    push @RECS, read_records($p->{reports}, 2, 1);
    my @mine = grep { $_->{pid} == $pid } @RECS;
    ok(@mine >= 1, 'a final report');
    is($mine[-1] && $mine[-1]{slot}, $slot, 'its slot');
}
kill 'TERM', grep { $_ } @{ $p->{pids} };
wait_exit($_, 5) for grep { $_ } @{ $p->{pids} };

# every request of this pool is in exactly one report entry; each instance
# sent a final record at exit
{
    push @RECS, read_records($p->{reports}, 2, 0);
    my @entries = map { @{ $_->{entries} } } @RECS;
    ok((!grep { $_->{version} != 1 } @RECS), 'records of version 1');
    my %pids = map { $_ => 1 } @ALL_PIDS;
    ok((!grep { !$pids{ $_->{pid} } || $_->{slot} > 2 } @RECS), 'pid and slot of an instance');
    is(scalar(grep { $_->{outcome} == 4 } @entries), 12, 'twelve ok entries') or diag explain \@RECS;
    is(scalar(grep { $_->{outcome} == 3 } @entries), 1, 'one fault entry');
    is(scalar @entries, 13, 'nothing else');
    ok((!grep { $_->{function} ne 'echo' } @entries), 'function echo');
    my ($hello) = grep { $_->{request_bytes} == 5 } @entries;
    is($hello && $hello->{response_bytes}, 5, 'request and response bytes');
    ok((grep { $_->{duration} >= 950_000 } @entries) >= 3, 'durations in us');
    for my $pid (@ALL_PIDS) {
        my @mine = grep { $_->{pid} == $pid } @RECS;
        ok(@mine >= 1, "instance $pid reported at exit");
    }
    ok((!grep { $_->{count} > 16 } @RECS), 'at most 16 entries a record');
}

# maximum requests
{
    my $q = start_pool(slots => 1, max_requests => [2]);
    ok(wait_until(10, sub { slots_state($q, 1) }), 'max-requests instance idle');
    my $c = Pluton::Client->new(lookup => $q->{dir});
    is($c->call($KEY, 'm1'), 'm1', 'first');
    is($c->call($KEY, 'm2'), 'm2', 'second');
    is(wait_exit($q->{pids}[0], 5), 0, 'exits after maximumRequests');
    my $s = read_slot($q->{seg}, 0);
    is($s->{exit_reason}, 6, 'exitReason maxRequests');
    is($s->{requests}, 2, 'two requests');
}

# a bad header: no stats, requests still served, reports still sent
{
    my $v1 = start_pool(slots => 1, version => 1);
    my $c1 = Pluton::Client->new(lookup => $v1->{dir});
    ok(wait_until(10, sub { eval { $c1->call($KEY, 'v1') } }), 'a version 1 segment: served without stats');
    like(slurp("$v1->{dir}/echo.err"), qr/running without stats: version 1 is not supported/, 'and says why');
    kill 'TERM', $v1->{pids}[0];
    is(wait_exit($v1->{pids}[0], 5), 0, 'stops');

    my $q = start_pool(slots => 1, magic => 'XXXX');
    my $c = Pluton::Client->new(lookup => $q->{dir});
    ok(wait_until(10, sub { eval { $c->call($KEY, 'nostats') } }), 'served without stats');
    is(read_slot($q->{seg}, 0)->{pid}, 0, 'the segment is not written');
    like(slurp("$q->{dir}/echo.err"), qr/running without stats: bad magic/, 'logged once');
    kill 'TERM', $q->{pids}[0];
    is(wait_exit($q->{pids}[0], 5), 0, 'stops');
    my @recs = read_records($q->{reports}, 2, 0);
    my @e = map { @{ $_->{entries} } } @recs;
    ok(@e >= 1 && $e[-1]{outcome} == 4, 'reports without stats');
}

# a client that connects and goes away is hidden in manager mode
{
    my $q = start_pool(slots => 1);
    ok(wait_until(10, sub { slots_state($q, 1) }), 'idle');
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$q->{dir}/$KEY.socket") or die;
    print $s "0Q,3b1";
    close $s;
    my $c = Pluton::Client->new(lookup => $q->{dir});
    is($c->call($KEY, 'still'), 'still', 'a broken client does not stop the service');
    is_deeply([ read_records($q->{reports}, 0.5, 0) ], [], 'entries younger than 1 s wait');
    my @recs = read_records($q->{reports}, 3, 1);
    is(scalar @recs, 1, 'one record, sent within about a second while idle');
    is_deeply([ sort map { $_->{outcome} } map { @{ $_->{entries} } } @recs ], [ 1, 4 ],
        'a readError entry and an ok one');
    is($c->call($KEY, 'later'), 'later', 'a request after a second');
    kill 'TERM', $q->{pids}[0];
    is(wait_exit($q->{pids}[0], 5), 0, 'stops');
    @recs = read_records($q->{reports}, 2, 1);
    is(scalar @recs, 1, 'the final record');
    is($recs[0] && $recs[0]{count}, 1, 'with the last entry');
}

done_testing;
