package Pluton::Client;

use strict;
use warnings;

use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un MSG_NOSIGNAL);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use POSIX ();
use Carp ();
use IO::Select;
use Scalar::Util qw(refaddr);
use Time::HiRes ();
use File::Spec;
use File::Basename qw(dirname);

use Pluton::Fault;
use Pluton::Packet;
use Pluton::ServiceKey;
use Pluton::Client::Request;
use Pluton::Client::Call;

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    DEFAULT_TIMEOUT    => 4,
    SYSTEM_HOME        => '/usr/local/var/pluton',
    LOOKUP_MAP_NAME    => 'lookup.map',
    MAX_TRIES          => 2,
    FIRST_ID           => 100,
    LAST_ID            => 10_000_000,
    READ_SIZE          => 65536,
    WRITE_SIZE         => 262144,
    CONNECT_BACKOFF_MIN => 0.0002,
    CONNECT_BACKOFF_MAX => 0.02,
    REFUSED_PAUSE       => 0.01,
    DIED_TEXT => 'the service instance closed the connection without a response: '
        . 'it may have died while serving this request',
};

# One request id counter per process.
my $NEXT_ID = FIRST_ID;

sub _next_id {
    my $id = $NEXT_ID++;
    $NEXT_ID = FIRST_ID if $NEXT_ID > LAST_ID;
    return $id;
}

# new(name => 'me', timeout => 4, lookup => '/path/lookup.map' or a rendezvous dir)
# or new('me')
sub new {
    my ($class, @args) = @_;
    my %o = @args == 1 ? (name => $args[0]) : @args;
    my $timeout_ms = defined $o{timeout} ? _ms($o{timeout}) : defined $o{timeout_ms} ? int $o{timeout_ms}
                   : DEFAULT_TIMEOUT * 1000;
    my $self = bless {
        name        => defined $o{name} ? "$o{name}" : q{},
        timeout_ms  => $timeout_ms,
        lookup      => $o{lookup},
        rendezvous  => undef,
        fault       => undef,
        outstanding => {},      # refaddr => request
        order       => [],      # refaddrs in add order
        completed   => [],      # completed, not yet handed back by wait_any
        debug       => $o{debug} || $ENV{plutonClientDebug} ? 1 : 0,
    }, $class;
    return $self;
}

sub api_version { return $VERSION }

# Seconds (a number, perhaps fractional) to whole milliseconds, at least 1.
sub _ms {
    my $seconds = shift;
    Carp::croak("timeout '$seconds' is not a number of seconds")
        unless defined $seconds && $seconds =~ /\A\s*[0-9]*[.]?[0-9]+(?:[eE][-+]?[0-9]+)?\s*\z/;
    my $ms = int($seconds * 1000 + 0.5);
    return $ms > 0 ? $ms : 1;
}

sub timeout {
    my ($self, $seconds) = @_;
    $self->{timeout_ms} = _ms($seconds) if @_ > 1;
    return $self->{timeout_ms} / 1000;
}

sub name { my $self = shift; return $self->{name} }
sub client_name { my $self = shift; return "$self->{name}:$$" }

sub timeout_ms { my $self = shift; return $self->{timeout_ms} }
sub set_timeout_ms { my ($self, $value) = @_; $self->{timeout_ms} = int($value); return $self; }

sub has_fault { my $self = shift; return defined $self->{fault} && $self->{fault}->code != 0 ? 1 : 0 }
sub fault     { my $self = shift; return $self->{fault} }

sub _fail {
    my ($self, $code, $text, %opt) = @_;
    $self->{fault} = Pluton::Fault->new($code, $text, %opt);
    return 0;
}

sub _debug {
    my $self = shift;
    print STDERR "PlutonClient: @_\n" if $self->{debug};
    return;
}

# ------------------------------------------------------------ lookup

# The Pluton home (docs/protocol.md section 7.1): $plutonHome, else the
# system home for root, else $XDG_STATE_HOME/pluton or ~/.local/state/pluton.
sub home {
    return $ENV{plutonHome} if defined $ENV{plutonHome} && length $ENV{plutonHome};
    return SYSTEM_HOME if $> == 0;
    my $x = $ENV{XDG_STATE_HOME};
    return "$x/pluton" if defined $x && File::Spec->file_name_is_absolute($x);
    my $h = $ENV{HOME};
    $h = (getpwuid $>)[7] unless defined $h && length $h;
    return SYSTEM_HOME unless defined $h && length $h;
    return "$h/.local/state/pluton";
}

# The lookup maps tried when neither the lookup option nor $plutonLookupMap
# names one: <home>/lookup.map, then the system one.
sub default_lookup_paths {
    my $first = home() . '/' . LOOKUP_MAP_NAME;
    my $system = SYSTEM_HOME . '/' . LOOKUP_MAP_NAME;
    return $first eq $system ? ($first) : ($first, $system);
}

# initialize([$lookup]): finds the rendezvous directory (a lookup map's
# 'rendezvous' line, or the directory given). The first success wins.
sub initialize {
    my ($self, $path) = @_;
    return 1 if defined $self->{rendezvous};
    $path = $self->{lookup} unless defined $path && length $path;
    $path = $ENV{plutonLookupMap} unless defined $path && length $path;
    my $hint = ': is plutonManager running? Start it, or set plutonLookupMap or pass lookup =>';
    if (!defined $path || !length $path) {
        my @paths = default_lookup_paths();
        ($path) = grep { -e } @paths;
        if (!defined $path) {
            return $self->_fail(Pluton::Fault::MAP_INITIALIZATION_FAILED,
                'no lookup map at ' . join(' or ', @paths) . $hint, errno => POSIX::ENOENT());
        }
    }
    elsif (!-e $path) {
        return $self->_fail(Pluton::Fault::OPEN_FOR_MMAP_FAILED, "no lookup map at $path$hint",
            errno => POSIX::ENOENT());
    }
    my $dir = $self->_read_lookup($path);
    return 0 unless defined $dir;
    $self->{rendezvous} = $dir;
    $self->{map_path}   = -d $path ? undef : $path;
    return 1;
}

sub _read_lookup {
    my ($self, $path) = @_;
    return $path if -d $path;
    my $fh;
    if (!open($fh, '<', $path)) {    ## no critic (RequireBriefOpen)
        $self->_fail(Pluton::Fault::OPEN_FOR_MMAP_FAILED, $path, errno => 0 + $!);
        return undef;    ## no critic (ProhibitExplicitReturnUndef)
    }
    my $dir;
    while (my $line = <$fh>) {
        if ($line =~ /^rendezvous\s+(.+?)\s*$/) {
            $dir = $1;
            last;
        }
    }
    close $fh;
    if (!defined $dir) {
        $self->_fail(Pluton::Fault::MAP_INITIALIZATION_FAILED, "no rendezvous line in '$path'");
        return undef;    ## no critic (ProhibitExplicitReturnUndef)
    }
    $dir = File::Spec->rel2abs($dir, dirname($path)) unless File::Spec->file_name_is_absolute($dir);
    return $dir;
}

# After a serviceNotFound: the manager may have been restarted with another
# rendezvous directory. True if the lookup map now names a different one.
sub _refresh {
    my $self = shift;
    return 0 unless defined $self->{map_path};
    local $self->{fault};
    my $dir = $self->_read_lookup($self->{map_path});
    return 0 if !defined $dir || $dir eq $self->{rendezvous};
    $self->{rendezvous} = $dir;
    return 1;
}

sub rendezvous { my $self = shift; return $self->{rendezvous} }

# ------------------------------------------------------------ connecting

sub _open_socket {
    my ($self, $req) = @_;
    my $sock;
    if (!socket($sock, PF_UNIX, SOCK_STREAM, 0)) {
        $req->{fault} = Pluton::Fault->new(Pluton::Fault::OPEN_SOCKET_FAILED, $req->{key}, errno => 0 + $!);
        return undef;    ## no critic (ProhibitExplicitReturnUndef)
    }
    binmode $sock;
    my $fl = fcntl($sock, F_GETFL, 0);
    fcntl($sock, F_SETFL, $fl | O_NONBLOCK);
    return $sock;
}

# One connect attempt to $path. Returns 'ok', 'enoent', 'again' (a full
# backlog), 'refused', or 'error' (the request's fault is set).
sub _connect_path {
    my ($self, $req, $path) = @_;
    if (length($path) > 107) {
        local $! = POSIX::ENAMETOOLONG();
        $req->{fault} = Pluton::Fault->new(Pluton::Fault::CONNECT_FAILED, $path, errno => 0 + $!);
        return 'error';
    }
    my $sock = $self->_open_socket($req) or return 'error';
    if (connect($sock, pack_sockaddr_un($path)) || $!{EINPROGRESS}) {
        $req->{sock} = $sock;
        $req->{path} = $path;
        return 'ok';
    }
    my $errno = 0 + $!;
    close $sock;
    local $! = $errno;
    return 'enoent' if $!{ENOENT};
    $req->{fault} = Pluton::Fault->new(Pluton::Fault::CONNECT_FAILED, $path, errno => $errno);
    return 'again'   if $!{EAGAIN};
    return 'refused' if $!{ECONNREFUSED};
    return 'error';
}

# Connects the request: the exact socket, else the wildcard. Returns 'ok',
# 'wait' (try again at $req->{connect_at}), or 'error' (fault set).
sub _connect {
    my ($self, $req) = @_;
    my @paths = defined $req->{path} ? ($req->{path}) : @{ $req->{paths} };
    for my $path (@paths) {
        my $r = $self->_connect_path($req, $path);
        next if $r eq 'enoent';
        return $r if $r eq 'ok' || $r eq 'error';
        my $now = Time::HiRes::time();
        if ($r eq 'again' && $now < $req->{deadline}) {
            # a full listen backlog: wait as a blocking connect would
            $req->{path}    = $path;
            $req->{backoff} = $req->{backoff} ? min2($req->{backoff} * 2, CONNECT_BACKOFF_MAX) : CONNECT_BACKOFF_MIN;
            $req->{connect_at} = $now + $req->{backoff};
            return 'wait';
        }
        if ($r eq 'refused' && $self->_retry_allowed($req) && $req->{deadline} - $now > REFUSED_PAUSE) {
            $req->{path} = $path;
            $req->{tries}++;
            $req->{connect_at} = $now + REFUSED_PAUSE;
            return 'wait';
        }
        return 'error';
    }
    $req->{fault} = Pluton::Fault->new(Pluton::Fault::SERVICE_NOT_FOUND, $req->{key});
    return 'error';
}

sub min2 { my ($x, $y) = @_; return $x < $y ? $x : $y }

sub _retry_allowed {
    my ($self, $req) = @_;
    my $a = $req->{attr};
    return $req->{tries} < MAX_TRIES && !$a->{no_retry} && !$a->{need_affinity};
}

# ------------------------------------------------------------ adding

# add_request($request) or add_request($key, $request). Checks the request and
# starts connecting; returns 1, or 0 with the fault on both the request and the
# client. The request's timeout (its timeout_ms, else the client's) starts now.
sub add_request {
    my $self = shift;
    my $req  = pop;
    my $key  = shift;
    Carp::croak('add_request needs a Pluton::Client::Request')
        unless ref $req && $req->isa('Pluton::Client::Request');
    $req->{key} = $key if defined $key;
    $self->{fault} = undef;
    if (!$self->_add($req)) {
        $self->{fault} = $req->{fault};
        return 0;
    }
    return 1;
}

sub _reject {
    my ($req, $code, $text) = @_;
    $req->{fault} = Pluton::Fault->new($code, $text);
    return 0;
}

sub _add {
    my ($self, $req) = @_;
    return _reject($req, Pluton::Fault::REQUEST_ALREADY_ADDED, 'request already added')
        if $req->{in_progress};
    if (!$self->initialize) {
        $req->{fault} = $self->{fault};
        return 0;
    }
    my $a = $req->{attr};
    return _reject($req, Pluton::Fault::CONTEXT_RESERVED_NAMESPACE,
        "Context Key uses reserved prefix of 'pluton.'") if defined $req->{bad_context};
    return _reject($req, Pluton::Fault::NO_WAIT_NOT_ALLOWED, 'noWait is not allowed with keepAffinity')
        if $a->{keep_affinity} && $a->{no_wait};
    return _reject($req, Pluton::Fault::NEED_NO_RETRY, 'keepAffinity requires noRetry')
        if $a->{keep_affinity} && !$a->{no_retry};
    return _reject($req, Pluton::Fault::NO_AFFINITY, 'needAffinity without an affinity connection')
        if $a->{need_affinity} && !$req->{affinity_sock};
    my $key = $req->{key};
    my $sk;
    if (!$a->{need_affinity}) {
        my $err = Pluton::ServiceKey->check($key, client => 1);
        return _reject($req, Pluton::Fault::SERVICE_KEY_BAD, $err) if defined $err;
        $sk = Pluton::ServiceKey->parse($key);
    }
    my $timeout = defined $req->{timeout_ms} ? $req->{timeout_ms} : $self->{timeout_ms};
    my $now = Time::HiRes::time();
    @$req{qw(response service_name decoder got wpos tries backoff connect_at path sock)}
        = ('', '', undef, 0, 0, 1, 0, undef, undef, undef);
    $req->{deadline}    = $now + $timeout / 1000;
    $req->{id}          = _next_id();
    $req->{client_name} = $self->client_name;
    $req->{packet} = Pluton::Packet::encode_request(
        id => $req->{id}, client_name => $req->{client_name}, service_key => $key,
        timeout_ms => $timeout,
        (map { ($_ => $a->{$_}) } @Pluton::Client::Request::ATTRIBUTES),
        context => $req->{context}, data => $req->{data},
    );
    if ($req->{affinity_sock}) {
        $req->{sock}  = $req->{affinity_sock};
        $req->{state} = 'writing';
    }
    else {
        my $r = $self->{rendezvous};
        $req->{paths} = [ "$r/" . $sk->socket_name, "$r/" . $sk->wildcard_socket_name ];
        my $c = $self->_connect($req);
        if ($c eq 'error' && $req->{fault}->code == Pluton::Fault::SERVICE_NOT_FOUND && $self->_refresh) {
            $r = $self->{rendezvous};
            $req->{paths} = [ "$r/" . $sk->socket_name, "$r/" . $sk->wildcard_socket_name ];
            $c = $self->_connect($req);
        }
        return 0 if $c eq 'error';
        $req->{state} = $c eq 'ok' ? 'writing' : 'connecting';
    }
    $req->{in_progress} = 1;
    $req->{client}      = $self;
    Scalar::Util::weaken($req->{client});
    $req->{fault} = Pluton::Fault->new(Pluton::Fault::REQUEST_IN_PROGRESS, 'request in progress');
    $self->{outstanding}{ refaddr $req } = $req;
    push @{ $self->{order} }, refaddr $req;
    $self->_debug("added $key id $req->{id}");
    # the request goes out at once, so that a service finds it complete on accept
    $self->_step_write($req) if $req->{state} eq 'writing';
    return 1;
}

# ------------------------------------------------------------ the engine

sub outstanding { my $self = shift; return scalar keys %{ $self->{outstanding} } }

sub _complete {
    my ($self, $req, $fault) = @_;
    $req->{fault} = $fault if $fault;
    $req->{in_progress} = 0;
    $req->{state} = 'done';
    $req->{packet} = undef;
    $req->{decoder} = undef;
    if ($req->{fault}->code < 0 || !$req->{attr}{keep_affinity} || !$req->{sock}) {
        # no affinity wanted, or a system fault: the connection ends
        $req->_close_affinity;
        $req->_close_socket;
    }
    else {
        $req->{affinity_sock} = $req->{sock};
        $req->{sock} = undef;
    }
    my $ra = refaddr $req;
    delete $self->{outstanding}{$ra};
    @{ $self->{order} } = grep { $_ != $ra } @{ $self->{order} };
    push @{ $self->{completed} }, $req;
    $self->_debug("completed $req->{key} id $req->{id}: " . $req->{fault}->code);
    return;
}

sub _abandon {
    my ($self, $req) = @_;
    my $ra = refaddr $req;
    delete $self->{outstanding}{$ra};
    @{ $self->{order} } = grep { $_ != $ra } @{ $self->{order} };
    @{ $self->{completed} } = grep { refaddr($_) != $ra } @{ $self->{completed} };
    $req->{in_progress} = 0;
    return;
}

# A failure of the exchange; $retry says whether the request provably was not
# read by a service (no byte of it was written), so that it may be resent once
# on a new connection (unless noRetry or needAffinity).
sub _failed {
    my ($self, $req, $retry, $code, $text, $errno) = @_;
    my $fault = Pluton::Fault->new($code, $text, ($errno ? (errno => $errno) : ()));
    if ($retry && $self->_retry_allowed($req) && Time::HiRes::time() < $req->{deadline}) {
        $self->_debug("retrying $req->{key} id $req->{id} after fault $code ($text)");
        $req->_close_affinity;
        $req->_close_socket;
        $req->{tries}++;
        @$req{qw(wpos got decoder backoff)} = (0, 0, undef, 0);
        my $c = $self->_connect($req);
        return $self->_complete($req) if $c eq 'error';
        $req->{state} = $c eq 'ok' ? 'writing' : 'connecting';
        return;
    }
    $self->_complete($req, $fault);
    return;
}

sub _step_write {
    my ($self, $req) = @_;
    my $len = length $req->{packet};
    while ($req->{wpos} < $len) {
        my $n = send($req->{sock}, substr($req->{packet}, $req->{wpos}, WRITE_SIZE), MSG_NOSIGNAL);
        if (!defined $n) {
            return if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            return $self->_failed($req, $req->{wpos} == 0, Pluton::Fault::SOCKET_WRITE_FAILED, $req->{key}, 0 + $!);
        }
        $req->{wpos} += $n;
    }
    $req->{state}   = 'reading';
    $req->{fault}   = Pluton::Fault->new(0);
    $req->{decoder} = Pluton::Packet::Decoder->new('A');
    return;
}

sub _step_read {
    my ($self, $req) = @_;
    my $dec = $req->{decoder};
    while (1) {
        my $n = $dec->fill($req->{sock}, READ_SIZE);
        if (!defined $n) {
            return if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            return $self->_failed($req, 0, Pluton::Fault::INCOMPLETE_RESPONSE, DIED_TEXT, 0 + $!)
                if $!{ECONNRESET};
            return $self->_failed($req, 0, Pluton::Fault::SOCKET_READ_FAILED, $req->{key}, 0 + $!);
        }
        if ($n == 0) {
            if ($req->{attr}{no_wait} && !$req->{got}) {
                # noWait: the service took the request and closed
                $req->{response} = '';
                return $self->_complete($req, Pluton::Fault->new(0));
            }
            return $self->_failed($req, 0, Pluton::Fault::INCOMPLETE_RESPONSE, DIED_TEXT);
        }
        $req->{got} += $n;
        my ($pkt, $err) = $dec->next;
        return $self->_failed($req, 0, Pluton::Fault::RESPONSE_PACKET_FORMAT_ERROR, $err->{text}) if $err;
        next unless $pkt;
        my $f = Pluton::Packet::response_fields($pkt->{fields});
        if ($f->{id} != $req->{id} || $f->{client_name} ne $req->{client_name}) {
            return $self->_failed($req, 0, Pluton::Fault::RESPONSE_PACKET_FORMAT_ERROR,
                "response routing mismatch: got id $f->{id} for \"$f->{client_name}\", "
                . "want id $req->{id} for \"$req->{client_name}\"");
        }
        $req->{service_name} = $f->{service_name};
        if ($f->{fault_code}) {
            $req->{response} = '';
            return $self->_complete($req,
                Pluton::Fault::Service->new(code => $f->{fault_code}, text => $f->{fault_text}));
        }
        $req->{response} = $f->{data};
        return $self->_complete($req, Pluton::Fault->new(0));
    }
    return;
}

# Runs every outstanding request of this client until $done->() is true or
# nothing is outstanding. Each request ends by its own deadline.
sub _run {
    my ($self, $done) = @_;
    while (1) {
        return if $done->() || !%{ $self->{outstanding} };
        my $now = Time::HiRes::time();
        my $wake;
        my $rsel = IO::Select->new;
        my $wsel = IO::Select->new;
        my %by_fd;
        for my $ra (my @copy = @{ $self->{order} }) {
            my $req = $self->{outstanding}{$ra} or next;
            if ($now >= $req->{deadline}) {
                $self->_complete($req, Pluton::Fault->new(Pluton::Fault::SERVICE_TIMEOUT, 'service timeout'));
                next;
            }
            if ($req->{state} eq 'connecting' && $now >= $req->{connect_at}) {
                my $c = $self->_connect($req);
                if ($c eq 'error') { $self->_complete($req); next }
                $req->{state} = 'writing' if $c eq 'ok';
            }
            # the first write goes out without waiting for select
            $self->_step_write($req) if $req->{state} eq 'writing' && $req->{wpos} == 0;
            next unless $req->{in_progress};
            my $t = $req->{deadline};
            $t = $req->{connect_at} if $req->{state} eq 'connecting' && $req->{connect_at} < $t;
            $wake = $t if !defined $wake || $t < $wake;
            next if $req->{state} eq 'connecting';
            $by_fd{ fileno $req->{sock} } = $req;
            if ($req->{state} eq 'writing') { $wsel->add($req->{sock}) }
            else                            { $rsel->add($req->{sock}) }
        }
        return if $done->() || !%{ $self->{outstanding} };
        my $left = $wake - Time::HiRes::time();
        $left = 0 if $left < 0;
        my ($rready, $wready) = IO::Select->select($rsel, $wsel, undef, $left);
        for my $fh (@{ $wready || [] }) {
            my $req = $by_fd{ fileno $fh } or next;
            $self->_step_write($req) if $req->{in_progress} && $req->{state} eq 'writing';
        }
        for my $fh (@{ $rready || [] }) {
            my $req = $by_fd{ fileno $fh } or next;
            $self->_step_read($req) if $req->{in_progress} && $req->{state} eq 'reading';
        }
    }
    return;
}

# wait_all: runs until nothing of this client is outstanding. Returns the
# number of requests completed (with or without a fault; a request that timed
# out has the fault serviceTimeout).
sub wait_all {
    my $self = shift;
    $self->_run(sub { 0 });
    my $n = @{ $self->{completed} };
    $self->{completed} = [];
    return $n;
}

# wait_sent: until every outstanding request has been written (or has
# completed). 1, or 0 when nothing is outstanding.
sub wait_sent {
    my $self = shift;
    return 0 unless %{ $self->{outstanding} };
    $self->_run(sub {
        !grep { $_->{state} eq 'writing' || $_->{state} eq 'connecting' } values %{ $self->{outstanding} };
    });
    return 1;
}

# wait_any: one completed request (perhaps one that timed out), or undef when
# nothing is outstanding or completed.
sub wait_any {
    my $self = shift;
    $self->_run(sub { @{ $self->{completed} } > 0 }) unless @{ $self->{completed} };
    return shift @{ $self->{completed} };
}

# wait_one($req): runs until $req completes. 1 when it completed (check its
# fault), 0 if it timed out or was never added (fault requestNotAdded on the
# client).
sub wait_one {
    my ($self, $req) = @_;
    my $ra = refaddr $req;
    if (!$self->{outstanding}{$ra} && !grep { refaddr($_) == $ra } @{ $self->{completed} }) {
        return $self->_fail(Pluton::Fault::REQUEST_NOT_ADDED, 'request not added to this client');
    }
    $self->_run(sub { !$req->{in_progress} });
    @{ $self->{completed} } = grep { refaddr($_) != $ra } @{ $self->{completed} };
    return $req->fault->code == Pluton::Fault::SERVICE_TIMEOUT ? 0 : 1;
}

sub execute_and_wait_all  { goto &wait_all }
sub execute_and_wait_any  { goto &wait_any }
sub execute_and_wait_one  { goto &wait_one }
sub execute_and_wait_sent { goto &wait_sent }

# run(@requests): adds them all, runs them together until all complete;
# returns the requests (check each one's fault and response).
sub run {
    my ($self, @reqs) = @_;
    my @added = grep { $self->add_request($_) } @reqs;
    my %mine = map { refaddr($_) => 1 } @added;
    $self->_run(sub { !grep { $_->{in_progress} } @added });
    @{ $self->{completed} } = grep { !$mine{ refaddr $_ } } @{ $self->{completed} };
    return @reqs;
}

# reset: ends and forgets all outstanding requests of this client.
sub reset {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    for my $req (values %{ $self->{outstanding} }) {
        $req->_close_socket;
        $req->{in_progress} = 0;
        $req->{fault} = Pluton::Fault->new(Pluton::Fault::REQUEST_NOT_ADDED, 'client reset');
    }
    $self->{outstanding} = {};
    $self->{order}       = [];
    $self->{completed}   = [];
    return;
}

# call($key, $data, timeout => $seconds, context => {...}, no_wait => 1):
# the response data; dies with a Pluton::Fault.
sub call {
    my ($self, $key, $data, %opt) = @_;
    my $req = Pluton::Client::Request->new(key => $key, data => $data, %opt);
    if (!$self->add_request($req)) {
        die $req->fault;
    }
    $self->wait_one($req);
    if ($req->has_fault) {
        $self->{fault} = $req->fault;
        die $req->fault;
    }
    return $req->response;
}

# submit($key, $data, %options): a Pluton::Client::Call, running; its result
# (or fault) once waited for.
sub submit {
    my ($self, $key, $data, %opt) = @_;
    my $call = Pluton::Client::Call->new(key => $key, data => $data, %opt);
    $self->add_request($call);
    return $call;
}

# wait(@calls): runs until every one of @calls is done; returns them.
sub wait {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, @calls) = @_;
    my @mine = grep { $_->{in_progress} } @calls;
    my %mine = map { refaddr($_) => 1 } @mine;
    $self->_run(sub { !grep { $_->{in_progress} } @mine });
    @{ $self->{completed} } = grep { !$mine{ refaddr $_ } } @{ $self->{completed} };
    return wantarray ? @calls : scalar @calls;
}

1;

__END__

=head1 NAME

Pluton::Client - call Pluton services from Perl

=head1 SYNOPSIS

    use Pluton::Client;

    my $client = Pluton::Client->new(name => 'myApp', timeout_ms => 4000,
                                     lookup => '/var/pluton/lookup.map');
    my $reply = eval { $client->call('system.echo.0.raw', 'Hello',
                                     context => { 'echo.sleepMS' => 5 }) };
    die $@->message if ref $@;          # a Pluton::Fault

    $client->call('system.log.0.raw', $line, no_wait => 1);   # fire and forget

    # parallel requests
    my @r = map { Pluton::Client::Request->new('system.echo.0.raw', "req $_") } 1 .. 3;
    $client->run(@r);    # or add_request each, then wait_all / wait_any / wait_one
    # each request may have its own timeout_ms; the client's is the default
    print $_->has_fault ? $_->fault->message : $_->response, "\n" for @r;

=head1 DESCRIPTION

The lookup location (C<lookup>, else C<$ENV{plutonLookupMap}>, else
F</usr/local/var/pluton/lookup.map>) is a lookup map file whose
C<rendezvous> line names the rendezvous directory, or that directory
itself. A key resolves to F<< <R>/<key>.socket >>, else the wildcard
F<< <R>/<App>..<Ver>.<Ser>.socket >>, else the fault C<serviceNotFound>.

Each request has its own deadline: its C<timeout_ms>, else the client's,
counted from C<add_request>; a request still unfinished then completes with
C<serviceTimeout> (-19, "service timeout") while the others go on. Requests
run together on non-blocking sockets with L<IO::Select>, whichever wait is
called. A failed write, a read error or close before any response byte, and
a bad or misrouted response are retried once on a new connection to the same
socket unless C<no_retry> or C<need_affinity> is set; a full listen backlog
is waited out until the deadline, as a blocking connect would.

=head1 METHODS

C<new>, C<initialize([$lookup])>, C<call($key, $data, %options)>,
C<add_request($req)>, C<wait_all>, C<wait_any>, C<wait_one($req)>,
C<wait_sent>, C<run(@requests)>, C<reset>, C<timeout_ms>,
C<set_timeout_ms>, C<has_fault>, C<fault>, C<client_name>.

=cut
