package Pluton::Coord;

use strict;
use warnings;

use IO::Socket::UNIX ();
use IO::Select ();
use Errno ();
use Scalar::Util ();
use Socket ();

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    CONTROL_ENV => 'plutonControl',
    SERVICE_ENV => 'plutonService',
    MAX_PACKET  => 1 << 20,
};

my $ORDER = 'bospnxgPwiteVvr';
my %OPEN;    # every open connection of this process (weak), for poll_all

# One control-protocol packet: 0<kind>, the fields in the protocol's order, 0z\n.
sub encode {
    my ($kind, $fields) = @_;
    my $out = "0$kind,";
    for my $t (split //, $ORDER) {
        next unless exists $fields->{$t};
        my $v = $fields->{$t} // '';
        $out .= length($v) . $t . $v . ',';
    }
    return $out . "0z\n";
}

# One packet from the front of $$buf: (kind, {fields}) and removes it, or ()
# when incomplete. Dies with a Pluton::Coord::Error for a malformed one.
sub _parse {
    my $buf = shift;
    my ($pos, $kind, %f) = (0, undef);
    my $n = length $$buf;
    while (1) {
        pos($$buf) = $pos;
        if ($$buf !~ /\G(\d{1,8})/gc) {
            return () if $pos == $n;
            _die('bad_packet', 'leading netString character not a digit');
        }
        my $len = $1;
        my $p = pos($$buf);
        return () if $p >= $n;
        my $t = substr($$buf, $p, 1);
        _die('bad_packet', 'netstring length too long') if $t =~ /\d/;
        $p++;
        return () if $p + $len + 1 > $n;
        my $payload = substr($$buf, $p, $len);
        $p += $len;
        my $term = substr($$buf, $p, 1);
        _die('bad_packet', 'incorrect netString terminator - comma or \n expected') if $term ne ',' && $term ne "\n";
        $pos = $p + 1;
        if (!defined $kind) {
            $kind = $t;
        } elsif ($t eq 'z') {
            substr($$buf, 0, $pos, '');
            return ($kind, \%f);
        } else {
            $f{$t} = $payload;
        }
    }
    return;    # not reached
}

sub _die { my ($code, $text) = @_; die Pluton::Coord::Error->new(code => $code, text => $text) }

sub new {
    my ($class, %o) = @_;
    my $path = $o{path} || $ENV{+CONTROL_ENV} || '';
    my $service = $o{service} || $ENV{+SERVICE_ENV} || '';
    _die('closed', 'no control socket: ' . CONTROL_ENV . ' is not set (run the service under plutonManager, or pass path =>)')
        unless length $path;
    _die('closed', 'no service key: ' . SERVICE_ENV . ' is not set (run the service under plutonManager, or pass service =>)')
        unless length $service;
    my $sock = IO::Socket::UNIX->new(Type => Socket::SOCK_STREAM(), Peer => $path)
        or _die('closed', "connect to the manager's control socket $path: $!");
    my $self = bless { sock => $sock, buf => '', id => 0, events => [], handlers => {}, timers => {},
        service => $service, closed => 0 }, $class;
    $self->{semaphores} = bless { c => $self }, 'Pluton::Coord::Semaphores';
    $self->{mutexes}    = bless { c => $self }, 'Pluton::Coord::Mutexes';
    $self->{variables}  = bless { c => $self }, 'Pluton::Coord::Variables';
    $self->{messages}   = bless { c => $self }, 'Pluton::Coord::Messages';
    $self->{timers_api} = bless { c => $self }, 'Pluton::Coord::Timers';
    Scalar::Util::weaken($self->{$_}{c}) for qw(semaphores mutexes variables messages timers_api);
    my $r = $self->_call({ o => 'hello', s => $service });
    $self->{pid} = $r->{i} // 0;
    $OPEN{ Scalar::Util::refaddr($self) } = $self;
    Scalar::Util::weaken($OPEN{ Scalar::Util::refaddr($self) });
    return $self;
}

sub semaphores { my $self = shift; return $self->{semaphores} }
sub mutexes { my $self = shift; return $self->{mutexes} }
sub variables { my $self = shift; return $self->{variables} }
sub messages { my $self = shift; return $self->{messages} }
sub timers { my $self = shift; return $self->{timers_api} }
sub service { my $self = shift; return $self->{service} }
sub pid { my $self = shift; return $self->{pid} }

sub close {    ## no critic (ProhibitBuiltinHomonyms, ProhibitAmbiguousNames)
    my $self = shift;
    return if $self->{closed};
    $self->{closed} = 1;
    delete $OPEN{ Scalar::Util::refaddr($self) };
    $self->{sock}->close;
    return;
}

sub DESTROY { my $self = shift; $self->close if $self->{sock}; return }

# Reads one packet; () when none is complete and $block is false.
sub _read_packet {
    my ($self, $block) = @_;
    while (1) {
        my @p = _parse(\$self->{buf});
        return @p if @p;
        if (!$block) {
            return () unless IO::Select->new($self->{sock})->can_read(0);
        }
        my $r = sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf});
        if (!defined $r) {
            next if $!{EINTR} || ($block && $!{EAGAIN});
            return () if $!{EAGAIN};
            my $e = "$!";
            $self->close;
            _die('closed', "connection to the manager lost: $e");
        }
        if ($r == 0) {
            $self->close;
            _die('closed', 'the manager closed the control connection');
        }
    }
    return;    # not reached
}

sub _call {
    my ($self, $f) = @_;
    _die('closed', 'the control connection is closed') if $self->{closed};
    my $id = ++$self->{id};
    $f->{b} = $id;
    my $data = encode('R', $f);
    while (length $data) {
        my $w = syswrite($self->{sock}, $data);
        if (!defined $w) {
            next if $!{EINTR};
            my $e = "$!";
            $self->close;
            _die('closed', "connection to the manager lost: $e");
        }
        substr($data, 0, $w, '');
    }
    while (1) {
        my ($kind, $r) = $self->_read_packet(1);
        next unless $kind;
        if ($kind eq 'E') {
            push @{ $self->{events} }, $r;
            next;
        }
        if (($r->{b} // '') ne $id) {
            _die($r->{p}, $r->{r} // '') if length($r->{p} // '');
            next;
        }
        if (length($r->{p} // '')) {
            my $class = $r->{p} eq 'timeout' ? 'Pluton::Coord::Timeout' : 'Pluton::Coord::Error';
            die $class->new(code => $r->{p}, text => $r->{r} // '');
        }
        return $r;
    }
    return;    # not reached
}

sub _req {
    my ($self, $op, $name, %o) = @_;
    my %f = (o => $op, n => $name);
    $f{g} = '' if $o{global};
    return \%f;
}

sub _ms {
    my $t = shift;
    return () unless defined $t;
    die "timeout must be >= 0 seconds\n" if $t < 0;
    return (t => int($t * 1000 + 0.5));
}

# Delivers the messages and timer ticks that arrived, without waiting.
sub poll {
    my $self = shift;
    return 0 if $self->{closed};
    while (1) {
        my ($kind, $f) = $self->_read_packet(0);
        last unless $kind;
        push @{ $self->{events} }, $f if $kind eq 'E';
    }
    my @ev = @{ $self->{events} };
    $self->{events} = [];
    my ($ran, %ticked) = (0);
    for my $f (@ev) {
        my $name = $f->{n} // '';
        if (($f->{o} // '') eq 'message') {
            my $h = $self->{handlers}{$name} || $self->{handlers}{'*'} or next;
            _run($h, Pluton::Coord::Message->new(name => $name, args => $f->{v} // '', sender => $f->{s} // ''));
            $ran++;
        } elsif (($f->{o} // '') eq 'timer' && !$ticked{$name}) {
            my $fn = $self->{timers}{$name} or next;
            $ticked{$name} = 1;
            _run($fn);
            $ran++;
        }
    }
    return $ran;
}

# A callback's exception goes to stderr (the manager logs it); the instance goes on.
sub _run {
    my ($fn, @args) = @_;
    eval { $fn->(@args); 1 } or warn "Pluton::Coord callback failed: " . ($@ || 'unknown error');
    return;
}

# Waits up to $timeout seconds for an event, then poll.
sub wait {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, $timeout) = @_;
    IO::Select->new($self->{sock})->can_read($timeout) if !$self->{closed} && !length $self->{buf} && !@{ $self->{events} };
    return $self->poll;
}

sub fileno { my $self = shift; return fileno $self->{sock} }    ## no critic (ProhibitBuiltinHomonyms)

# poll every open connection of this process; the service loop calls it between requests.
sub poll_all {
    my $ran = 0;
    for my $c (grep { defined } values %OPEN) {
        my $n = eval { $c->poll };
        $ran += $n // 0;
    }
    return $ran;
}

package Pluton::Coord::Semaphores;    ## no critic (ProhibitMultiplePackages)

sub create {
    my ($self, $name, $initial, %o) = @_;
    my $f = $self->{c}->_req('sem.create', $name, %o);
    $f->{i} = $initial // 0;
    $f->{P} = '' if $o{protected} // 1;
    return $self->{c}->_call($f)->{i} eq '1' ? 1 : 0;
}

sub increment { my ($self, $name, %o) = @_; return 0 + $self->{c}->_call($self->{c}->_req('sem.increment', $name, %o))->{i} }

sub decrement {
    my ($self, $name, %o) = @_;
    my $f = $self->{c}->_req('sem.decrement', $name, %o);
    if ($o{wait}) {
        $f->{w} = '';
        my %t = Pluton::Coord::_ms($o{timeout});
        @$f{ keys %t } = values %t;
    }
    return 0 + $self->{c}->_call($f)->{i};
}

sub get { my ($self, $name, %o) = @_; return 0 + $self->{c}->_call($self->{c}->_req('sem.get', $name, %o))->{i} }

sub destroy {
    my ($self, $name, %o) = @_;
    return $self->{c}->_call($self->{c}->_req('sem.destroy', $name, %o))->{i} eq '1' ? 1 : 0;
}

package Pluton::Coord::Mutexes;    ## no critic (ProhibitMultiplePackages)

sub lock {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, $name, %o) = @_;
    my $f = $self->{c}->_req('mutex.lock', $name, %o);
    my %t = Pluton::Coord::_ms($o{timeout});
    @$f{ keys %t } = values %t;
    $self->{c}->_call($f);
    return bless { m => $self, c => $self->{c}, name => $name, global => $o{global}, held => 1 }, 'Pluton::Coord::Lock';
}

sub unlock {
    my ($self, $name, %o) = @_;
    $self->{c}->_call($self->{c}->_req('mutex.unlock', $name, %o));
    return;
}

package Pluton::Coord::Lock;    ## no critic (ProhibitMultiplePackages)

sub name { my $self = shift; return $self->{name} }
sub held { my $self = shift; return $self->{held} }

sub unlock {
    my $self = shift;
    return unless $self->{held};
    $self->{held} = 0;
    $self->{c}->mutexes->unlock($self->{name}, global => $self->{global});
    return;
}

sub DESTROY {
    my $self = shift;
    return unless $self->{held} && $self->{c} && !$self->{c}{closed};
    local ($@, $!);
    eval { $self->unlock; 1 };
    return;
}

package Pluton::Coord::Variables;    ## no critic (ProhibitMultiplePackages)

sub set {
    my ($self, $name, $value, %o) = @_;
    my $f = $self->{c}->_req('var.set', $name, %o);
    $f->{v} = $value // '';
    return 0 + $self->{c}->_call($f)->{V};
}

sub _value { my $r = shift; my $v = 0 + ($r->{V} // 0); return ($v ? $r->{v} // '' : undef, $v) }

sub get { my ($self, $name, %o) = @_; return _value($self->{c}->_call($self->{c}->_req('var.get', $name, %o))) }

sub wait_for_change {
    my ($self, $name, $version, %o) = @_;
    my $f = $self->{c}->_req('var.wait', $name, %o);
    $f->{V} = $version // 0;
    my %t = Pluton::Coord::_ms($o{timeout});
    @$f{ keys %t } = values %t;
    return _value($self->{c}->_call($f));
}

package Pluton::Coord::Messages;    ## no critic (ProhibitMultiplePackages)

sub broadcast {
    my ($self, $pattern, $name, $args) = @_;
    my $f = $self->{c}->_req('msg.broadcast', $name);
    $f->{x} = $pattern // '';
    $f->{v} = $args // '';
    return 0 + $self->{c}->_call($f)->{i};
}

sub on {
    my ($self, $name, $fn) = @_;
    if ($fn) { $self->{c}{handlers}{$name} = $fn } else { delete $self->{c}{handlers}{$name} }
    return;
}

package Pluton::Coord::Timers;    ## no critic (ProhibitMultiplePackages)

sub every {
    my ($self, $name, $seconds, $fn) = @_;
    my $c = $self->{c};
    $c->{timers}{$name} = $fn;
    my $r = eval { $c->_call({ o => 'timer.every', n => $name, e => int($seconds * 1000 + 0.5) }) };
    if (!$r) {
        my $e = $@;
        delete $c->{timers}{$name};
        die $e;
    }
    return ($r->{i} // '') eq '1' ? 1 : 0;
}

sub cancel {
    my ($self, $name) = @_;
    delete $self->{c}{timers}{$name};
    $self->{c}->_call({ o => 'timer.cancel', n => $name });
    return;
}

package Pluton::Coord::Message;    ## no critic (ProhibitMultiplePackages)

sub new { my ($class, %o) = @_; return bless {%o}, $class }
sub name { my $self = shift; return $self->{name} }
sub args { my $self = shift; return $self->{args} }
sub sender { my $self = shift; return $self->{sender} }

package Pluton::Coord::Error;    ## no critic (ProhibitMultiplePackages)

use overload '""' => sub { my $self = shift; return "$self->{code}: $self->{text}\n" }, fallback => 1;

sub new  { my ($class, %o) = @_; return bless {%o}, $class }
sub code { my $self = shift; return $self->{code} }
sub text { my $self = shift; return $self->{text} }

package Pluton::Coord::Timeout;    ## no critic (ProhibitMultiplePackages)

our @ISA = ('Pluton::Coord::Error');

package Pluton::Coord;    ## no critic (ProhibitMultiplePackages)

1;

__END__

=head1 NAME

Pluton::Coord - coordination between service instances, hosted by plutonManager

=head1 SYNOPSIS

    use Pluton::Coord;
    my $coord = Pluton::Coord->new;    # $plutonControl and $plutonService
    $coord->semaphores->create('db', 4, protected => 1);
    if ($coord->semaphores->decrement('db', wait => 1, timeout => 2) >= 0) {
        ...;
        $coord->semaphores->increment('db');
    }
    {
        my $guard = $coord->mutexes->lock('refresh', timeout => 5);
        ...;    # unlocked when $guard goes out of scope (or $guard->unlock)
    }
    my $version = $coord->variables->set('config', $bytes);
    my ($value, $v) = $coord->variables->wait_for_change('config', $version, timeout => 10);
    $coord->messages->on(reload => sub { my $msg = shift; ... $msg->args ... });
    $coord->messages->broadcast('', 'reload', 'now');
    $coord->timers->every('cleanup', 60, sub { ... });    # one instance runs it

=head1 DESCRIPTION

The Perl API of the coordination services described in docs/coordination.md:
semaphores whose operations are reverted when an instance dies (C<protected>),
mutexes released when their holder dies, versioned shared variables (64 KiB
each), broadcast messages and singleton timers. Names are scoped by service;
C<< global => 1 >> names the manager-wide object.

Errors die with a C<Pluton::Coord::Error> (C<code>, C<text>); a lock or
C<wait_for_change> that times out dies with C<Pluton::Coord::Timeout>.
C<decrement> returns -1 when it did not decrement (no wait, or the timeout
passed), the Netplex convention.

Messages and timer ticks are delivered by C<poll>, which the service loop
(L<Pluton::Service>) calls between requests: before it waits for the next
connection, and at least once a second while idle. A program that is not a
service loop calls C<< $coord->poll >> or C<< $coord->wait($seconds) >>
itself. A callback that dies is reported on stderr and the instance goes on.

=head1 METHODS

=head2 new(path => $socket, service => $key)

Connects to the control socket (default C<$ENV{plutonControl}>) as an
instance of the service (default C<$ENV{plutonService}>); both are set by the
manager for every instance. Dies naming what is missing.

=head2 encode($kind, \%fields)

The bytes of one control-protocol packet (docs/coordination.md).

=head2 service, pid, fileno

The service key given, the pid the manager sees, the connection's descriptor.

=head2 poll, wait($seconds), poll_all, close

C<poll> runs the handlers of the messages and timer ticks that arrived,
without waiting (a timer's function once however many ticks queued), and
returns how many callbacks ran. C<wait> first waits up to C<$seconds> for one.
C<poll_all> (a function) polls every open connection of the process; the
service loop calls it. C<close> closes the connection: the manager then
reverts the process's protected operations, releases its mutexes and moves
its timers, as when the process dies.

=head2 semaphores

=over

=item create($name, $initial, protected => 1, global => 0)

1 if created, 0 if it existed (unchanged). C<protected> defaults to 1.

=item increment($name, global => 0)

The new value.

=item decrement($name, wait => 0, timeout => $seconds, global => 0)

The new value, or -1 when it was 0 and C<wait> is false or the timeout passed.

=item get($name, global => 0), destroy($name, global => 0)

The value; 1 if destroyed (0 if there was none).

=back

=head2 mutexes

=over

=item lock($name, timeout => $seconds, global => 0)

Returns a guard (C<Pluton::Coord::Lock>: C<name>, C<held>, C<unlock>) that
unlocks when it goes out of scope. Dies with C<Pluton::Coord::Timeout> when
the timeout passes, code C<deadlock> if this process holds it.

=item unlock($name, global => 0)

Dies with code C<not_owner> if this process does not hold it.

=back

=head2 variables

=over

=item set($name, $value, global => 0)

The new version (1 for the first set). Values up to 64 KiB.

=item get($name, global => 0)

C<($value, $version)>; C<(undef, 0)> if never set.

=item wait_for_change($name, $version, timeout => $seconds, global => 0)

Waits until the version differs from C<$version> (0: until it is first set);
C<($value, $version)> then. Dies with C<Pluton::Coord::Timeout>.

=back

=head2 messages

=over

=item broadcast($pattern, $name, $args)

Sends to every instance (this one included) of the services whose key matches
the shell pattern (C<''>: this service); returns how many it reached.

=item on($name, sub { my $msg = shift; ... })

Handles the messages named C<$name> (C<'*'>: all without their own handler);
C<$msg> has C<name>, C<args> and C<sender>. C<undef> removes the handler.

=back

=head2 timers

=over

=item every($name, $seconds, sub { ... })

Runs the function every C<$seconds> in exactly one instance of the service;
when it dies another takes over within one period. Returns 1 if this
instance owns it now. Every instance must give the same period (code
C<conflict> otherwise).

=item cancel($name)

Stops this instance's part in the timer.

=back

=head2 Pluton::Coord::Error: new, code, text

Codes are C<bad_request>, C<no_hello>, C<not_found>, C<limit>, C<too_large>,
C<timeout> (class C<Pluton::Coord::Timeout>), C<not_owner>, C<deadlock>,
C<conflict>, C<destroyed>, C<shutdown>, and C<closed> for a lost connection.

=head2 Pluton::Coord::Lock: name, held, unlock

The guard C<lock> returns.

=head2 Pluton::Coord::Message: new, name, args, sender

A message as a handler gets it.

=cut
