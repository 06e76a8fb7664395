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
use JSON::PP ();
use MIME::Base64 ();

use Pluton::Fault;
use Pluton::BinaryMap;
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
    GATEWAY_SOCKET      => 'plutonRemote.socket',
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
    my ($bin, $bad) = Pluton::BinaryMap::read_rendezvous($path);    # the original's binary map
    return $bin if defined $bin;
    if ($bad) { $self->{fault} = $bad; return undef }    ## no critic (ProhibitExplicitReturnUndef)
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
    # A key with no local socket goes to the remote gateway (docs/remote.md),
    # unless the request is noRemote or uses affinity.
    my $a = $req->{attr};
    push @paths, "$self->{rendezvous}/" . GATEWAY_SOCKET
        if !defined $req->{path} && !$req->{via} && !$a->{no_remote} && !$a->{keep_affinity} && !$a->{need_affinity};
    for my $path (@paths) {
        my $r = $self->_connect_path($req, $path);
        next if $r eq 'enoent';
        return $r if $r eq 'ok' || $r eq 'error';
        my $now = Time::HiRes::time();
        if ($r eq 'again' && $now < $req->{deadline}) {
            # a full listen backlog: wait as a blocking connect would
            $req->{path}    = $path;
            $req->{backoff} = $req->{backoff} ? _min2($req->{backoff} * 2, CONNECT_BACKOFF_MAX) : CONNECT_BACKOFF_MIN;
            $req->{connect_at} = $now + $req->{backoff};
            return 'wait';
        }
        if ($r eq 'refused' && $self->_retry_allowed($req) && $req->{deadline} - $now > REFUSED_PAUSE) {
            $req->{path} = $path;
            $req->{tries}++;
            $req->{connect_at} = $now + REFUSED_PAUSE;
            return 'wait';
        }
        if (!$req->{via} && $path eq "$self->{rendezvous}/" . GATEWAY_SOCKET) {
            local $! = $req->{fault}->errno;
            $req->{fault} = Pluton::Fault->new(Pluton::Fault::SERVICE_NOT_FOUND,
                "$req->{key}: not served locally, and remote gateway $path: $!");
        }
        return 'error';
    }
    $req->{fault} = Pluton::Fault->new(Pluton::Fault::SERVICE_NOT_FOUND, $req->{via}
        ? "$req->{key}: no remote gateway $req->{via} (the local manager was not started with -N)" : $req->{key});
    return 'error';
}

sub _min2 { my ($x, $y) = @_; return $x < $y ? $x : $y }

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
        $req->{via} = "$r/" . GATEWAY_SOCKET if $req->{via};
        $req->{paths} = $req->{via} ? [ $req->{via} ] : [ "$r/" . $sk->socket_name, "$r/" . $sk->wildcard_socket_name ];
        my $c = $self->_connect($req);
        if ($c eq 'error' && $req->{fault}->code == Pluton::Fault::SERVICE_NOT_FOUND && !$req->{via} && $self->_refresh) {
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

# ------------------------------------------------------------ jobs (docs/remote.md)

# A job operation through the remote gateway: the request's context gets the
# operation's reserved pair; the response is JSON.
sub _gateway_call {
    my ($self, $key, $data, $op, $id, %opt) = @_;
    my $req = Pluton::Client::Request->new(key => $key, data => $data,
        (map { exists $opt{$_} ? ($_ => $opt{$_}) : () } qw(context timeout)));
    push @{ $req->{context} }, $op, defined $id ? "$id" : q{};
    $req->{via} = 1;
    die $req->fault if !$self->add_request($req);
    $self->wait_one($req);
    if ($req->has_fault) {
        $self->{fault} = $req->fault;
        die $req->fault;
    }
    my $out = eval { JSON::PP::decode_json($req->response) };
    die Pluton::Fault->new(Pluton::Fault::RESPONSE_PACKET_FORMAT_ERROR, 'the remote gateway answered no JSON object')
        if ref $out ne 'HASH';
    return $out;
}

# submit_job($key, $data, context => {...}, job_id => $id, timeout => $s):
# { id, sequence, duplicate }; dies with a Pluton::Fault.
sub submit_job {
    my ($self, $key, $data, %opt) = @_;
    my $r = $self->_gateway_call($key, $data, 'pluton.jobSubmit', $opt{job_id}, %opt);
    $r->{duplicate} = $r->{duplicate} ? 1 : 0;
    return $r;
}

# job_result($id, timeout => $s): the job's stored result; dies with a
# Pluton::Fault (-19 when there is none in time).
sub job_result {
    my ($self, $id, %opt) = @_;
    my $r = $self->_gateway_call('pluton.jobResult.0.raw', q{}, 'pluton.jobResult', $id,
        (exists $opt{timeout} ? (timeout => $opt{timeout}) : ()));
    $r->{data} = MIME::Base64::decode_base64(defined $r->{data} ? $r->{data} : q{});
    $r->{ok} = $r->{ok} ? 1 : 0;
    $r->{faultCode} ||= 0;
    $r->{faultText} = q{} if !defined $r->{faultText};
    $r->{service}   = q{} if !defined $r->{service};
    return $r;
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

    my $client = Pluton::Client->new(name => 'myApp', timeout => 4);
    my $reply = eval { $client->call('system.echo.0.raw', 'Hello',
                                     context => { 'echo.sleepMS' => 5 }, timeout => 0.5) };
    if (my $fault = $@) {                 # a Pluton::Fault
        warn "timed out\n" if $fault->isa('Pluton::Fault::Timeout');
    }

    $client->call('system.log.0.raw', $line, no_wait => 1);   # fire and forget

    # parallel calls
    my @calls = map { $client->submit('system.echo.0.raw', "request $_") } 1 .. 3;
    $client->wait(@calls);
    print $_->result, "\n" for @calls;    # result dies with the call's fault

=head1 DESCRIPTION

A client finds a service through the lookup location: the C<lookup> option,
else C<$ENV{plutonLookupMap}>, else the first of F<< <home>/lookup.map >> and
F</usr/local/var/pluton/lookup.map> that exists, where the home is
C<$ENV{plutonHome}>, else F</usr/local/var/pluton> for root, else
F<$XDG_STATE_HOME/pluton> (F<~/.local/state/pluton>). A lookup map file's
C<rendezvous> line names the rendezvous directory; a directory is taken as
the rendezvous directory itself. A key resolves to F<< <R>/<key>.socket >>,
else the wildcard F<< <R>/<App>..<Ver>.<Ser>.socket >>, else the fault
C<serviceNotFound> (-30), unless the local manager runs with C<-N>: then
a request that is not C<no_remote> and uses no affinity goes, unchanged, to
the manager's remote gateway F<< <R>/plutonRemote.socket >>, which relays it
on NATS to a host serving the key and answers as the service would (its
faults keep their codes and texts; the request's timeout is the deadline;
see F<docs/remote.md>). When no lookup map exists the fault
(C<mapInitializationFailed>, -32) names every path tried and what to do.

Timeouts are in seconds (fractions allowed); the default is 4. Each call has
its own deadline, counted from when it is made; one still unfinished then
fails with a L<Pluton::Fault::Timeout> (-19) while the others go on. Calls
run together on non-blocking sockets with L<IO::Select>, whichever wait is
used. A request is resent at most once, and only when it provably was not
read by a service: its connection was refused (C<ECONNREFUSED>), or its
write failed before any byte went out. Once a byte was written, a connection
that closes before a complete response is the fault C<incompleteResponse>
(-20) "the service instance closed the connection without a response: it may
have died while serving this request", and a malformed or misrouted response
is C<responsePacketFormatError> (-21); neither is resent. A full listen
backlog is waited out until the deadline, as a blocking connect would.

Faults sent by a service (or by the manager, such as 7
C<serviceUnavailable>) are L<Pluton::Fault::Service> objects.

=head1 METHODS

=head2 new

    Pluton::Client->new(name => $name, timeout => $seconds, lookup => $path_or_dir)
    Pluton::Client->new($name)

C<name> goes on the wire as C<< <name>:<pid> >>. C<timeout> defaults to 4
seconds. C<lookup> is the lookup map file or the rendezvous directory
(default: see L</DESCRIPTION>). C<debug> (or C<$ENV{plutonClientDebug}>)
writes a line per step to stderr.

=head2 call

    my $bytes = $client->call($key, $data, %options);

Sends one request and returns the response data; dies with a
L<Pluton::Fault>. Options: C<timeout> (seconds), C<context> (a hash
reference, or an array reference of name/value pairs; names starting with
C<pluton.> are reserved: fault -23), C<no_wait> (return as soon as a service
instance has taken the request; the result is empty), C<no_retry>,
C<no_remote>.

=head2 submit

    my $call = $client->submit($key, $data, %options);

Starts a call (options as C<call>) and returns it at once, a
L<Pluton::Client::Call>. It runs while any wait of the client runs.

=head2 submit_job

    my $s = $client->submit_job($key, $payload, context => {...}, job_id => $id, timeout => $s);
    # { id => ..., sequence => ..., duplicate => 0 or 1 }

Enqueues a durable job of class C<$key> (a service configured with C<jobs
true> on some host) through the local manager's remote gateway
(F<docs/remote.md>). C<job_id>: 1 to 200 letters, digits, C<->, C<_>,
C<=>; none: the gateway makes one. C<duplicate> is 1 when the id was
submitted before and nothing was enqueued. Dies with a L<Pluton::Fault>:
-30 without a gateway, -31 bad key, -22 bad job id, -23 a reserved context
name, 5 JetStream failed, -19 no answer in time.

=head2 job_result

    my $r = $client->job_result($id, timeout => 30);

Waits up to C<timeout> seconds (default: the client's) for the result of job
C<$id>: a hash reference with C<id>, C<key>, C<ok> (0: the job failed its
last attempt), C<data> (the response), C<faultCode>, C<faultText>,
C<attempts>, C<host>, C<service>, C<finished>. Dies with a
L<Pluton::Fault::Timeout> (-19) when there is no result in time.

=head2 wait

    $client->wait(@calls);

Runs until every one of C<@calls> is done (answered, faulted or timed out);
returns them (their number in scalar context).

=head2 timeout

    my $seconds = $client->timeout;
    $client->timeout(1.5);

The default timeout of the client's calls, in seconds.

=head2 initialize

    $client->initialize($lookup) or die $client->fault;

Finds the rendezvous directory now (C<call> and C<submit> do it when
needed). False with the client's C<fault> set when the lookup location is
missing or is not a lookup map. The first success wins.

=head2 rendezvous

The rendezvous directory in use (undef before the first lookup).

=head2 home

    Pluton::Client::home()

The Pluton home directory (F<docs/protocol.md> section 7.1).

=head2 default_lookup_paths

    Pluton::Client::default_lookup_paths()

The lookup maps tried when neither the C<lookup> option nor
C<$ENV{plutonLookupMap}> names one, in order.

=head2 name

The client's name.

=head2 client_name

The name as sent, C<< <name>:<pid> >>.

=head2 has_fault, fault

The fault of the client's last failed operation (a L<Pluton::Fault>), and
whether there is one.

=head2 api_version

The SDK's version.

=head1 REQUEST OBJECTS

For what the calls above do not offer (affinity, waiting for whichever
request completes first), a client runs L<Pluton::Client::Request> objects:

    my $r = Pluton::Client::Request->new('system.echo.0.raw', 'one',
                                         keep_affinity => 1, no_retry => 1);
    $client->add_request($r) or die $r->fault;
    $client->wait_one($r);
    print $r->has_fault ? $r->fault->message : $r->response;

=head2 add_request

    $client->add_request($request)
    $client->add_request($key, $request)

Checks the request and starts it (connect and first write). True, or false
with the fault on the request and the client: C<requestAlreadyAdded> (-4),
C<noWaitNotAllowed> (-10), C<needNoRetry> (-11), C<noAffinity> (-9),
C<serviceKeyBad> (-31), C<contextReservedNamespace> (-23),
C<serviceNotFound> (-30), C<connectFailed> (-16), or a lookup fault.

=head2 wait_one

    $client->wait_one($request)

Runs until the request completes: 1, or 0 if it timed out, or if it was never
added (the client's fault is then C<requestNotAdded>, -3).

=head2 wait_any

Runs until one request completes and returns it (perhaps one that timed
out); undef when nothing is outstanding.

=head2 wait_all

Runs until nothing is outstanding; returns the number of requests that
completed.

=head2 wait_sent

Runs until every outstanding request has been written (or has completed);
1, or 0 when nothing is outstanding.

=head2 run

    $client->run(@requests)

Adds the requests and runs them until all complete; returns them.

=head2 outstanding

The number of requests in flight.

=head2 reset

Ends and forgets every outstanding request (their fault becomes
C<requestNotAdded>).

=head2 timeout_ms, set_timeout_ms

The default timeout in milliseconds (the original's unit).

=cut
