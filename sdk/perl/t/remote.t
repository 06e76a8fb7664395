use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use POSIX ();
use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use Pluton::Client;
use Pluton::Fault qw(:codes);

# Remote keys and jobs through the local manager's gateway socket
# (docs/remote.md): host A runs `plutonManager -N embedded` (its own NATS
# server), host B joins it with the URL A wrote in <R>/plutonManager.nats and
# serves keys A does not; a client on A calls them.

my $bin = $ENV{PLUTON_BIN} || dist_root() . '/../../bin';
plan skip_all => "no plutonManager in $bin (make build, or set PLUTON_BIN)" unless -x "$bin/plutonManager";

my $ECHO_KEY = 'perlremote.echo.0.raw';
my $JOB_KEY  = 'perlremote.job.0.raw';
my $echo = "exec $^X -I" . lib_dir() . ' ' . echo_script()
    . "\nminimum-processes 1\nmaximum-processes 2\nprestart-processes true\nexec-failure-backoff 0\n";

my @hosts;
END { for my $h (reverse @hosts) { kill 'TERM', $h->{pid}; wait_exit($h->{pid}, 20) // kill 'KILL', $h->{pid} } }

sub start_host {
    my ($nats, %services) = @_;
    my $dir = tempdir('plplrXXXX', DIR => '/tmp', CLEANUP => 1);    # short: socket paths
    mkdir "$dir/c" or die;
    for my $k (keys %services) {
        open(my $fh, '>', "$dir/c/$k") or die;
        print $fh $services{$k};
        close $fh;
    }
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $ENV{plutonHome} = $dir;
        open(STDOUT, '>', "$dir/manager.log") or POSIX::_exit(127);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
        exec("$bin/plutonManager", '-C', "$dir/c", '-R', "$dir/r", '-L', "$dir/lookup.map", '-N', $nats)
            or POSIX::_exit(127);
    }
    my $h = { pid => $pid, dir => $dir };
    push @hosts, $h;
    wait_log($h, 'Manager ready:');
    return $h;
}

sub wait_log {
    my ($h, $text) = @_;
    my $ok = wait_until(30, sub { index(slurp("$h->{dir}/manager.log"), $text) >= 0 });
    BAIL_OUT("no '$text' within 30 s:\n" . slurp("$h->{dir}/manager.log")) unless $ok;
}

my $a = start_host('embedded');
my $url = slurp("$a->{dir}/r/plutonManager.nats");
$url =~ s/\s+$//;
like($url, qr{^nats://127\.0\.0\.1:\d+$}, "host A's NATS URL: $url");
my $b = start_host($url, $ECHO_KEY => $echo, $JOB_KEY => $echo . "jobs true\n");
wait_log($b, "Job Class: $JOB_KEY");

my $c = Pluton::Client->new(name => 'prove', lookup => "$a->{dir}/lookup.map", timeout => 5);
ok(wait_until(30, sub { my $r = eval { $c->call($ECHO_KEY, 'probe') }; defined $r && $r eq 'probe' }),
    "B's keys are reachable from A") or diag slurp("$b->{dir}/manager.log");

subtest 'a key served only by the other host' => sub {
    ok(!-e "$a->{dir}/r/$ECHO_KEY.socket", 'A has no socket for it');
    my $call = $c->submit($ECHO_KEY, 'hello remote', context => { 'echo.sleepMS' => 1 });
    $c->wait($call);
    is($call->result, 'hello remote', 'answered by B');
    like($call->service_name, qr/\S/, 'with the instance name: ' . $call->service_name);
    my @calls = map { $c->submit($ECHO_KEY, "n$_") } 0 .. 7;
    $c->wait(@calls);
    is_deeply([ map { $_->result } @calls ], [ map { "n$_" } 0 .. 7 ], 'eight in parallel');
};

subtest 'faults keep code and text' => sub {
    eval { $c->call($ECHO_KEY, 'x', context => { 'echo.sleepMS' => -1 }) };
    is(ref $@ && $@->code, 111, 'the service fault code');
    is(ref $@ && $@->text, 'sleep time negative', 'and text');
    eval { $c->call('perlremote.nowhere.0.raw', 'x') };
    is(ref $@ && $@->code, SERVICE_NOT_FOUND, 'a key no host serves: -30');
    like(ref $@ && $@->text, qr/no host serves it/, 'named by the gateway');
};

subtest 'noRemote fails fast' => sub {
    my $t0 = time;
    eval { $c->call($ECHO_KEY, 'x', no_remote => 1) };
    is(ref $@ && $@->code, SERVICE_NOT_FOUND, '-30');
    ok(time - $t0 < 1, 'at once');
};

subtest 'the deadline travels as the timeout' => sub {
    my $t0 = time;
    eval { $c->call($ECHO_KEY, 'slow', context => { 'echo.sleepMS' => 5000 }, timeout => 1) };
    is(ref $@ && $@->code, SERVICE_TIMEOUT, '-19');
    my $dt = time - $t0;
    ok($dt < 3, "within the timeout ($dt s)");
    is($c->call($ECHO_KEY, 'after', timeout => 10), 'after', 'the service goes on');
};

subtest 'without a gateway' => sub {
    my $dir = tempdir('plplrXXXX', DIR => '/tmp', CLEANUP => 1);
    my $lone = Pluton::Client->new(name => 'prove', lookup => $dir, timeout => 5);
    eval { $lone->call('perlremote.absent.0.raw', 'x') };
    is(ref $@ && $@->code, SERVICE_NOT_FOUND, 'a key not served is -30');
    eval { $lone->submit_job($JOB_KEY, 'x') };
    is(ref $@ && $@->code, SERVICE_NOT_FOUND, 'submit_job without a gateway: -30');
    like(ref $@ && $@->text, qr/no remote gateway/, 'saying so');
    socket(my $stale, PF_UNIX, SOCK_STREAM, 0) or die;
    bind($stale, pack_sockaddr_un("$dir/plutonRemote.socket")) or die "bind: $!";    # never listening
    eval { $lone->call('perlremote.absent.0.raw', 'x') };
    is(ref $@ && $@->code, SERVICE_NOT_FOUND, 'a refusing gateway: -30');
    like(ref $@ && $@->text, qr{remote gateway \Q$dir\E/plutonRemote\.socket: Connection refused}, 'naming it');
    close $stale;
};

subtest 'submit_job and job_result' => sub {
    my $id = 'perl-job-' . $$;
    my $s = $c->submit_job($JOB_KEY, 'job payload', context => { k => 'v' }, job_id => $id, timeout => 10);
    is($s->{id}, $id, 'the given id');
    is($s->{duplicate}, 0, 'not a duplicate');
    ok($s->{sequence} > 0, 'a stream sequence');
    my $r = $c->job_result($id, timeout => 30);
    is($r->{ok}, 1, 'the job ran');
    is($r->{data}, 'job payload', 'its result');
    is($r->{key}, $JOB_KEY, 'its class');
    is($r->{attempts}, 1, 'first attempt');
    is($c->submit_job($JOB_KEY, 'again', job_id => $id, timeout => 10)->{duplicate}, 1, 'a second submit is a duplicate');
    my $made = $c->submit_job($JOB_KEY, 'made id', timeout => 10);
    like($made->{id}, qr/^[A-Za-z0-9_=-]+$/, "a made id $made->{id}");
    is($c->job_result($made->{id}, timeout => 30)->{data}, 'made id', 'its result');
};

subtest 'job faults' => sub {
    my @cases = (
        [ 'bad id',           sub { $c->submit_job($JOB_KEY, 'x', job_id => 'bad id') }, -22, qr/bad id/ ],
        [ 'bad key',          sub { $c->submit_job('nodots', 'x') },                   SERVICE_KEY_BAD, qr/./ ],
        [ 'reserved context', sub { $c->submit_job($JOB_KEY, 'x', context => { 'pluton.x' => 1 }) }, -23, qr/./ ],
        [ 'no result in time', sub { $c->job_result('perl-never-submitted', timeout => 0.5) }, SERVICE_TIMEOUT, qr/./ ],
    );
    for my $case (@cases) {
        my ($name, $fn, $code, $text) = @$case;
        my $t0 = time;
        eval { $fn->() };
        is(ref $@ && $@->code, $code, "$name: $code");
        like(ref $@ && $@->text, $text, "$name: text");
        ok(time - $t0 < 3, "$name: at once");
    }
    my $id = 'perl-fails-' . $$;
    $c->submit_job($JOB_KEY, 'x', context => { 'echo.sleepMS' => -1 }, job_id => $id, timeout => 10);
    my $r = $c->job_result($id, timeout => 40);
    is($r->{ok}, 0, 'a job whose every attempt fails');
    is($r->{faultCode}, 111, 'has the last fault');
    is($r->{faultText}, 'sleep time negative', 'and its text');
};

done_testing;
