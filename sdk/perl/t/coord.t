use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use POSIX ();
use IO::Select;
use Time::HiRes qw(time sleep);
use Pluton::Coord;

# Pluton::Coord against a real plutonManager's control socket (bin/ of
# `make build`, or $PLUTON_BIN): instances are helper processes killed with
# SIGKILL, and a real Perl service whose loop delivers a timer and messages.

my $bin = $ENV{PLUTON_BIN} || dist_root() . '/../../bin';
plan skip_all => "no plutonManager in $bin (make build, or set PLUTON_BIN)" unless -x "$bin/plutonManager";

my $dir = temp_dir();
mkdir "$dir/config" or die;
my $KEY = 'perl.coordsvc.0.raw';
open(my $svc, '>', "$dir/svc.pl") or die;
print $svc <<'EOS';
use strict; use warnings;
use Pluton::Service; use Pluton::Coord;
$| = 1;
my $c = Pluton::Coord->new;
my $n = 0;
$c->timers->every('beat', 0.3, sub { $n++; print STDERR "beat $n\n" });
$c->messages->on(hello => sub { print STDERR 'got ' . $_[0]->args . "\n" });
Pluton::Service->new('coordsvc')->serve(sub { 'ok' });
EOS
close $svc;
open(my $fh, '>', "$dir/config/$KEY") or die;
print $fh "exec $^X -I" . lib_dir() . " $dir/svc.pl\nminimum-processes 2\nmaximum-processes 2\nprestart-processes true\n";
close $fh;

my $mgr = fork // die "fork: $!";
if (!$mgr) {
    open(STDOUT, '>', "$dir/manager.log") or POSIX::_exit(127);
    open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
    exec("$bin/plutonManager", '-C', "$dir/config", '-R', "$dir/rendezvous", '-L', "$dir/lookup.map", '-l', 'processLog')
        or POSIX::_exit(127);
}
END { if ($mgr) { kill 'TERM', $mgr; wait_exit($mgr, 10) // kill 'KILL', $mgr } }
my $CONTROL = "$dir/rendezvous/plutonControl.socket";
ok(wait_until(15, sub { -S $CONTROL }), 'the control socket is up') or diag slurp("$dir/manager.log");

my $HELPER = <<'EOS';
use strict; use warnings; use Pluton::Coord;
$| = 1;
my $c = Pluton::Coord->new;
my $mode = shift;
if ($mode eq 'hold') { $c->semaphores->decrement('slots') == 0 or die; our $g = $c->mutexes->lock('m') }
elsif ($mode eq 'timer') { $c->timers->every('tick', 0.3, sub { print "tick\n" }) }
elsif ($mode eq 'listen') { $c->messages->on('*', sub { my $m = shift; print 'msg ', $m->name, ' ', $m->args, ' ', $m->sender, "\n" }) }
elsif ($mode eq 'set') { $c->variables->set('config', shift) }
print "ready\n";
my $end = time + 60;
$c->wait(0.05) while time < $end;
EOS

my @helpers;
END { kill 'KILL', map { $_->{pid} } @helpers }

sub helper {
    my ($service, @args) = @_;
    pipe(my $r, my $w) or die;
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        open(STDOUT, '>&', $w) or POSIX::_exit(127);
        $ENV{plutonControl} = $CONTROL;
        $ENV{plutonService} = $service;
        exec($^X, '-I' . lib_dir(), '-e', $HELPER, @args) or POSIX::_exit(127);
    }
    close $w;
    my $h = { pid => $pid, r => $r };
    push @helpers, $h;
    is(line($h), 'ready', "helper $args[0] ready");
    return $h;
}

sub line {
    my ($h, $timeout) = @_;
    return undef unless IO::Select->new($h->{r})->can_read($timeout // 10);    ## no critic (ProhibitExplicitReturnUndef)
    my $l = readline $h->{r};
    chomp $l if defined $l;
    return $l;
}

sub err_of { my $code = shift; my $e = $@; return ref $e && $e->isa('Pluton::Coord::Error') ? $e : undef }

subtest 'a killed instance releases its protected semaphore and its mutex' => sub {
    my $c = Pluton::Coord->new(path => $CONTROL, service => 'pl.kill.0.raw');
    is($c->semaphores->create('slots', 1, protected => 1), 1, 'created');
    my $h = helper('pl.kill.0.raw', 'hold');
    is($c->semaphores->get('slots'), 0, 'the helper took the slot');
    eval { $c->mutexes->lock('m', timeout => 0.1) };
    isa_ok($@, 'Pluton::Coord::Timeout', 'the helper holds the mutex');
    like($@->text, qr/held by pid $h->{pid}/, 'the error names the holder');
    my $t0 = time;
    kill 'KILL', $h->{pid};
    {
        my $guard = $c->mutexes->lock('m', timeout => 5);
        is($c->semaphores->decrement('slots', wait => 1, timeout => 5), 0, 'the decrement was reverted');
    }
    my $dt = time - $t0;
    ok($dt < 1, "released within 1 s ($dt s)");
    my $again = $c->mutexes->lock('m', timeout => 0);
    ok($again->held, 'the guard unlocked at the end of its scope');
    $again->unlock;
    $c->close;
};

subtest 'wait_for_change wakes on a set from another instance' => sub {
    my $c = Pluton::Coord->new(path => $CONTROL, service => 'pl.var.0.raw');
    is_deeply([$c->variables->get('config')], [undef, 0], 'never set');
    eval { $c->variables->wait_for_change('config', 0, timeout => 0.1) };
    isa_ok($@, 'Pluton::Coord::Timeout');
    helper('pl.var.0.raw', 'set', 'v1');
    is_deeply([$c->variables->wait_for_change('config', 0, timeout => 10)], ['v1', 1], 'woken with the value');
    is($c->variables->set('config', 'v2'), 2, 'version 2');
    is_deeply([$c->variables->wait_for_change('config', 1, timeout => 1)], ['v2', 2], 'an old version returns at once');
    $c->close;
};

subtest 'a broadcast reaches every instance of the service' => sub {
    my @same = map { helper('pl.msg.0.raw', 'listen') } 1 .. 3;
    my $other = helper('pl.other.0.raw', 'listen');
    my $c = Pluton::Coord->new(path => $CONTROL, service => 'pl.msg.0.raw');
    my @got;
    $c->messages->on(reload => sub { push @got, $_[0] });
    is($c->messages->broadcast('', 'reload', 'now'), 4, 'three helpers and the sender');
    is(line($_), 'msg reload now pl.msg.0.raw', "helper $_->{pid} got it") for @same;
    ok(wait_until(5, sub { $c->poll; @got }), 'the sender too');
    is($got[0] && $got[0]->args, 'now', 'with its arguments');
    is($c->messages->broadcast('pl.[mo]*.0.raw', 'all', 'x'), 5, 'a pattern over service keys');
    is(line($other), 'msg all x pl.msg.0.raw', 'the other service got that one');
    $c->close;
};

subtest 'a singleton timer moves when its owner is killed' => sub {
    my $owner = helper('pl.timer.0.raw', 'timer');
    my $c = Pluton::Coord->new(path => $CONTROL, service => 'pl.timer.0.raw');
    my @ticks;
    is($c->timers->every('tick', 0.3, sub { push @ticks, time }), 0, 'not the owner');
    is(line($owner), 'tick', 'the owner runs it');
    is(line($owner), 'tick', 'again');
    $c->poll;
    is(scalar @ticks, 0, 'only the owner');
    my $t0 = time;
    kill 'KILL', $owner->{pid};
    ok(wait_until(5, sub { $c->wait(0.05); @ticks }), 'the timer moved');
    ok(@ticks && $ticks[0] - $t0 < 1, 'within one period and slack');
    eval { $c->timers->every('tick', 1, sub { }) };
    is(ref $@ && $@->code, 'conflict', 'another period is a conflict');
    $c->timers->cancel('tick');
    $c->close;
};

subtest 'limits give clear errors' => sub {
    my $c = Pluton::Coord->new(path => $CONTROL, service => 'pl.limits.0.raw');
    my @cases = (
        [sub { $c->variables->set('v', 'x' x 65537) }, 'too_large', 'variable "v": value of 65537 bytes exceeds the limit of 65536 bytes'],
        [sub { $c->messages->broadcast('', 'm', 'x' x 65537) }, 'too_large', 'message "m": arguments of 65537 bytes exceed the limit of 65536 bytes'],
        [sub { $c->semaphores->get('n' x 256) }, 'too_large', 'name of 256 bytes exceeds the limit of 255 bytes'],
        [sub { $c->semaphores->increment('missing') }, 'not_found', 'no semaphore "missing" (create it first)'],
        [sub { $c->mutexes->unlock('free') }, 'not_owner', 'mutex "free" is not held by this instance'],
    );
    for my $case (@cases) {
        my ($call, $code, $text) = @$case;
        eval { $call->() };
        is(ref $@ && $@->code, $code, "code $code");
        is(ref $@ && $@->text, $text, $text);
    }
    $c->semaphores->create("s$_", 0, protected => 0) for 1 .. 1024;
    eval { $c->semaphores->create('one-more', 0) };
    is(ref $@ && $@->text, 'semaphore "one-more": too many semaphores (limit 1024)', 'count limit');
    is($c->semaphores->create('one-more', 0, global => 1), 1, 'the global scope counts apart');
    my $g = $c->mutexes->lock('m');
    eval { $c->mutexes->lock('m') };
    is(ref $@ && $@->code, 'deadlock', 'relocking is an error');
    $c->close;
};

subtest 'the service loop delivers timer ticks and messages' => sub {
    my $log = sub { slurp("$dir/manager.log") };
    ok(wait_until(20, sub { my @b = $log->() =~ /Log: \S+ beat \d+/g; @b >= 2 }), 'the timer runs in the service')
        or diag $log->();
    my %by = map { $_ => 1 } $log->() =~ /Log: (\S+) beat \d+/g;
    is(scalar keys %by, 1, 'in one instance');
    my $c = Pluton::Coord->new(path => $CONTROL, service => $KEY);
    is($c->messages->broadcast('', 'hello', 'world'), 3, 'two instances and the sender');
    ok(wait_until(10, sub { my @g = $log->() =~ /Log: \S+ got world/g; @g == 2 }), 'both instances got it') or diag $log->();
    $c->close;
};

is(Pluton::Coord::encode('R', { b => 1, o => 'hello', s => 'a.b.0.raw' }), "0R,1b1,5ohello,9sa.b.0.raw,0z\n", 'the encoding vector');
{
    local $ENV{plutonControl};
    eval { Pluton::Coord->new };
    like(ref $@ && $@->text, qr/plutonControl is not set/, 'a missing environment is named');
}

subtest 'the conformance encode vectors' => sub {
    require JSON::PP;
    my $v = JSON::PP->new->decode(slurp(dist_root() . '/../../conformance/coord/vectors.json'));
    for my $e (@{ $v->{encode} }) {
        is(Pluton::Coord::encode($e->{kind}, $e->{fields}), $e->{bytes}, "encode $e->{bytes}");
        my $buf = $e->{bytes};
        is_deeply([Pluton::Coord::_parse(\$buf)], [$e->{kind}, $e->{fields}], 'and parse it back');
        is($buf, '', 'consumed');
    }
};

done_testing;
