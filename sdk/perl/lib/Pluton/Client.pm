package Pluton::Client;

use strict;
use warnings;

use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un MSG_NOSIGNAL);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK F_GETFD F_SETFD FD_CLOEXEC);
use IO::Select;
use Scalar::Util qw(refaddr);
use Time::HiRes ();
use File::Spec;
use File::Basename qw(dirname);

use Pluton::Fault;
use Pluton::Packet;
use Pluton::ServiceKey;
use Pluton::Client::Request;

our $VERSION = '0.1.0';

use constant {
    DEFAULT_TIMEOUT_MS => 4000,
    DEFAULT_LOOKUP     => '/usr/local/var/pluton/lookup.map',
    MAX_TRIES          => 2,
    FIRST_ID           => 100,
    LAST_ID            => 10_000_000,
    READ_SIZE          => 65536,
    WRITE_SIZE         => 262144,
};

# One request id counter per process.
my $NEXT_ID = FIRST_ID;

sub _next_id {
    my $id = $NEXT_ID++;
    $NEXT_ID = FIRST_ID if $NEXT_ID > LAST_ID;
    return $id;
}

# new(name => 'me', timeout_ms => 4000, lookup => '/path/lookup.map' or a rendezvous dir)
# or new('me')
sub new {
    my $class = shift;
    my %o = @_ == 1 ? (name => $_[0]) : @_;
    my $self = bless {
        name        => defined $o{name} ? "$o{name}" : '',
        timeout_ms  => defined $o{timeout_ms} ? int($o{timeout_ms}) : DEFAULT_TIMEOUT_MS,
        lookup      => $o{lookup},
        rendezvous  => undef,
        fault       => undef,
        outstanding => {},      # refaddr => request
        order       => [],      # refaddrs in add order
        completed   => [],      # completed, not yet handed back by wait_any
        deadline    => undef,
        debug       => $o{debug} || $ENV{plutonClientDebug} ? 1 : 0,
    }, $class;
    return $self;
}

sub api_version { $Pluton::Client::VERSION }

sub name { $_[0]{name} }
sub client_name { "$_[0]{name}:$$" }

sub timeout_ms { $_[0]{timeout_ms} }
sub set_timeout_ms { $_[0]{timeout_ms} = int($_[1]); $_[0] }

sub has_fault { defined $_[0]{fault} && $_[0]{fault}->code != 0 ? 1 : 0 }
sub fault     { $_[0]{fault} }

sub _fail {
    my ($self, $code, $text, %opt) = @_;
    $self->{fault} = Pluton::Fault->new($code, $text, %opt);
    return 0;
}

sub _debug {
    my $self = shift;
    print STDERR "PlutonClient: @_\n" if $self->{debug};
}

# ------------------------------------------------------------ lookup

# initialize([$lookup]): finds the rendezvous directory. The first success wins.
sub initialize {
    my ($self, $path) = @_;
    return 1 if defined $self->{rendezvous};
    $path = $self->{lookup} unless defined $path && length $path;
    $path = $ENV{plutonLookupMap} unless defined $path && length $path;
    $path = DEFAULT_LOOKUP unless defined $path && length $path;
    if (-d $path) {
        $self->{rendezvous} = $path;
        return 1;
    }
    my $fh;
    open($fh, '<', $path)
        or return $self->_fail(Pluton::Fault::openForMmapFailed(), $path, errno => 0 + $!);
    my $dir;
    while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ /^rendezvous\s+(.+?)\s*$/) {
            $dir = $1;
            last;
        }
    }
    close $fh;
    return $self->_fail(Pluton::Fault::mapInitializationFailed(), "no rendezvous line in '$path'")
        unless defined $dir;
    $dir = File::Spec->rel2abs($dir, dirname($path)) unless File::Spec->file_name_is_absolute($dir);
    $self->{rendezvous} = $dir;
    return 1;
}

sub rendezvous { $_[0]{rendezvous} }

sub _open_socket {
    my ($self, $req) = @_;
    my $sock;
    if (!socket($sock, PF_UNIX, SOCK_STREAM, 0)) {
        $req->{fault} = Pluton::Fault->new(Pluton::Fault::openSocketFailed(), 'socket()', errno => 0 + $!);
        return undef;
    }
    binmode $sock;
    my $fl = fcntl($sock, F_GETFL, 0);
    fcntl($sock, F_SETFL, $fl | O_NONBLOCK);
    my $fd = fcntl($sock, F_GETFD, 0);
    fcntl($sock, F_SETFD, $fd | FD_CLOEXEC);
    return $sock;
}

# Connects $req->{path}; on ENOENT, tries $req->{wildcard_path} (if given).
# Returns 1, or 0 with the request's fault set.
sub _connect {
    my ($self, $req, @paths) = @_;
    my $key = $req->{key};
    for my $path (@paths) {
        my $sock = $self->_open_socket($req) or return 0;
        my $addr = eval { pack_sockaddr_un($path) };
        if (!defined $addr || length($path) > 107) {
            close $sock;
            $req->{fault} = Pluton::Fault->new(Pluton::Fault::connectFailed(), "$path: path too long");
            return 0;
        }
        if (connect($sock, $addr) || $!{EINPROGRESS}) {
            $req->{sock} = $sock;
            $req->{path} = $path;
            $self->_debug("connected $key to $path");
            return 1;
        }
        my $errno = 0 + $!;
        close $sock;
        next if $!{ENOENT};
        $req->{fault} = Pluton::Fault->new(Pluton::Fault::connectFailed(), $path, errno => $errno);
        return 0;
    }
    $req->{fault} = Pluton::Fault->new(Pluton::Fault::serviceNotFound(), $key);
    return 0;
}

# ------------------------------------------------------------ adding

# add_request($request) or add_request($key, $request). Connects; returns 1, or
# 0 with the fault on both the request and the client.
sub add_request {
    my $self = shift;
    my $req  = pop;
    my $key  = shift;
    Carp::croak('add_request needs a Pluton::Client::Request')
        unless ref $req && $req->isa('Pluton::Client::Request');
    $req->{key} = $key if defined $key;
    $self->{fault} = undef;
    my $f = $self->_add($req);
    if (!$f) {
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
    if (!$self->initialize) {
        $req->{fault} = $self->{fault};
        return 0;
    }
    return _reject($req, Pluton::Fault::requestAlreadyAdded(), 'request already added')
        if $req->{in_progress};
    my $a = $req->{attr};
    return _reject($req, Pluton::Fault::contextReservedNamespace(),
        "Context Key uses reserved prefix of 'pluton.'") if defined $req->{bad_context};
    return _reject($req, Pluton::Fault::noWaitNotAllowed(), 'noWait is not allowed with keepAffinity')
        if $a->{keep_affinity} && $a->{no_wait};
    return _reject($req, Pluton::Fault::needNoRetry(), 'keepAffinity requires noRetry')
        if $a->{keep_affinity} && !$a->{no_retry};
    my $key = $req->{key};
    if ($a->{need_affinity}) {
        return _reject($req, Pluton::Fault::noAffinity(), 'needAffinity without an affinity connection')
            unless $req->{affinity_sock};
    }
    else {
        my $err = Pluton::ServiceKey->check($key, client => 1);
        return _reject($req, Pluton::Fault::serviceKeyBad(), $err) if defined $err;
    }
    $req->{response}     = '';
    $req->{service_name} = '';
    $req->{decoder}      = undef;
    $req->{got}          = 0;
    $req->{wpos}         = 0;
    $req->{tries}        = 1;
    if ($req->{affinity_sock}) {
        $req->{sock} = $req->{affinity_sock};
    }
    else {
        my $sk = Pluton::ServiceKey->parse($key);
        my $r  = $self->{rendezvous};
        $self->_connect($req, "$r/" . $sk->socket_name, "$r/" . $sk->wildcard_socket_name)
            or return 0;
    }
    $req->{id}          = _next_id();
    $req->{client_name} = $self->client_name;
    $req->{packet} = Pluton::Packet::encode_request(
        id => $req->{id}, client_name => $req->{client_name}, service_key => $key,
        timeout_ms => $self->{timeout_ms},
        (map { ($_ => $a->{$_}) } @Pluton::Client::Request::ATTRIBUTES),
        context => $req->{context}, data => $req->{data},
    );
    $req->{state}       = 'writing';
    $req->{in_progress} = 1;
    $req->{client}      = $self;
    Scalar::Util::weaken($req->{client});
    $req->{fault} = Pluton::Fault->new(Pluton::Fault::requestInProgress(), 'request in progress');
    $self->{outstanding}{ refaddr $req } = $req;
    push @{ $self->{order} }, refaddr $req;
    return 1;
}

# ------------------------------------------------------------ the engine

sub outstanding { scalar keys %{ $_[0]{outstanding} } }

sub _complete {
    my ($self, $req, $fault) = @_;
    $req->{fault} = $fault if $fault;
    $req->{in_progress} = 0;
    $req->{state} = 'done';
    $req->{packet} = undef;
    $req->{decoder} = undef;
    if ($req->{fault}->code < 0 || !$req->{attr}{keep_affinity}) {
        # a system fault, or no affinity wanted: the connection ends
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
    $self->{deadline} = undef unless %{ $self->{outstanding} };
}

sub _abandon {
    my ($self, $req) = @_;
    my $ra = refaddr $req;
    delete $self->{outstanding}{$ra};
    @{ $self->{order} } = grep { $_ != $ra } @{ $self->{order} };
    @{ $self->{completed} } = grep { refaddr($_) != $ra } @{ $self->{completed} };
    $req->{in_progress} = 0;
    $self->{deadline} = undef unless %{ $self->{outstanding} };
}

# A failure that may be retried once on a new connection to the same path.
sub _failed {
    my ($self, $req, $code, $text, $errno) = @_;
    my $a = $req->{attr};
    if ($req->{tries} < MAX_TRIES && !$a->{no_retry} && !$a->{need_affinity} && $req->{path}) {
        $self->_debug("retrying $req->{key} after fault $code ($text)");
        $req->_close_affinity;
        $req->_close_socket;
        $req->{tries}++;
        $req->{wpos} = 0;
        $req->{got}  = 0;
        $req->{decoder} = undef;
        $req->{state} = 'writing';
        if (!$self->_connect($req, $req->{path})) {
            $self->_complete($req);
        }
        return;
    }
    $self->_complete($req, Pluton::Fault->new($code, $text, ($errno ? (errno => $errno) : ())));
}

sub _step_write {
    my ($self, $req) = @_;
    my $len = length $req->{packet};
    while ($req->{wpos} < $len) {
        my $n = send($req->{sock}, substr($req->{packet}, $req->{wpos}, WRITE_SIZE), MSG_NOSIGNAL);
        if (!defined $n) {
            return if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            return $self->_failed($req, Pluton::Fault::socketWriteFailed(), 'write failed', 0 + $!);
        }
        $req->{wpos} += $n;
    }
    $req->{state} = 'reading';
    $req->{fault} = Pluton::Fault->new(0);
    $req->{decoder} = Pluton::Packet::Decoder->new('A');
}

sub _step_read {
    my ($self, $req) = @_;
    while (1) {
        my $buf = '';
        my $n = sysread($req->{sock}, $buf, READ_SIZE);
        if (!defined $n) {
            return if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            return $self->_failed($req, Pluton::Fault::socketReadFailed(), 'read failed', 0 + $!);
        }
        if ($n == 0) {
            if ($req->{attr}{no_wait} && !$req->{got}) {
                $req->{response} = '';
                return $self->_complete($req, Pluton::Fault->new(0));
            }
            return $self->_failed($req, Pluton::Fault::incompleteResponse(),
                'Socket closed with incomplete response');
        }
        $req->{got} += $n;
        $req->{decoder}->add($buf);
        my ($pkt, $err) = $req->{decoder}->next;
        if ($err) {
            return $self->_failed($req, Pluton::Fault::responsePacketFormatError(), $err->{text});
        }
        next unless $pkt;
        my $f = Pluton::Packet::response_fields($pkt->{fields});
        if ($f->{id} != $req->{id} || $f->{client_name} ne $req->{client_name}) {
            return $self->_failed($req, Pluton::Fault::responsePacketFormatError(),
                "response routing mismatch: id $f->{id} client '$f->{client_name}'");
        }
        $req->{service_name} = $f->{service_name};
        if ($f->{fault_code}) {
            $req->{response} = '';
            return $self->_complete($req, Pluton::Fault->new($f->{fault_code}, $f->{fault_text}));
        }
        $req->{response} = $f->{data};
        return $self->_complete($req, Pluton::Fault->new(0));
    }
}

sub _timeout_all {
    my $self = shift;
    for my $ra (@{ $self->{order} }) {
        my $req = $self->{outstanding}{$ra} or next;
        $self->_complete($req, Pluton::Fault->new(Pluton::Fault::serviceTimeout(), 'service timeout'));
    }
}

# Runs the engine until $done->() is true. Returns 1 (done), 0 (timeout).
sub _run {
    my ($self, $done) = @_;
    while (1) {
        return 1 if $done->();
        return 1 unless %{ $self->{outstanding} };
        $self->{deadline} = Time::HiRes::time() + $self->{timeout_ms} / 1000
            unless defined $self->{deadline};
        # opportunistic writes, without waiting for select
        for my $ra (@{ $self->{order} }) {
            my $req = $self->{outstanding}{$ra} or next;
            $self->_step_write($req) if $req->{state} eq 'writing' && $req->{wpos} == 0;
        }
        return 1 if $done->();
        return 1 unless %{ $self->{outstanding} };
        my $left = $self->{deadline} - Time::HiRes::time();
        if ($left <= 0) {
            $self->_timeout_all;
            $self->{deadline} = undef;
            return 0;
        }
        my $rsel = IO::Select->new;
        my $wsel = IO::Select->new;
        my %by_fd;
        for my $ra (@{ $self->{order} }) {
            my $req = $self->{outstanding}{$ra} or next;
            my $fd = fileno $req->{sock};
            $by_fd{$fd} = $req;
            if ($req->{state} eq 'writing') { $wsel->add($req->{sock}) }
            else                            { $rsel->add($req->{sock}) }
        }
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
}

# wait_all: until nothing of this client is outstanding. Returns the number of
# requests completed (>0), or 0 on timeout (all outstanding get serviceTimeout).
sub wait_all {
    my $self = shift;
    my $ok = $self->_run(sub { !%{ $self->{outstanding} } });
    my $n = @{ $self->{completed} };
    $self->{completed} = [];
    return $ok ? $n : 0;
}

# wait_sent: until every outstanding request has been written. 1, or 0 on
# timeout or when nothing is outstanding.
sub wait_sent {
    my $self = shift;
    return 0 unless %{ $self->{outstanding} };
    return $self->_run(sub {
        !grep { $_->{state} eq 'writing' } values %{ $self->{outstanding} };
    });
}

# wait_any: one completed request (possibly a timed-out one), or undef.
sub wait_any {
    my $self = shift;
    return shift @{ $self->{completed} } if @{ $self->{completed} };
    return undef unless %{ $self->{outstanding} };
    $self->_run(sub { @{ $self->{completed} } > 0 });
    return shift @{ $self->{completed} };
}

# wait_one($req): 1 when it completed, 0 on timeout or if it was never added.
sub wait_one {
    my ($self, $req) = @_;
    my $ra = refaddr $req;
    my $in = grep { refaddr($_) == $ra } @{ $self->{completed} };
    if (!$in && !$self->{outstanding}{$ra}) {
        return $self->_fail(Pluton::Fault::requestNotAdded(), 'request not added to this client');
    }
    my $ok = $self->_run(sub { !$req->{in_progress} });
    @{ $self->{completed} } = grep { refaddr($_) != $ra } @{ $self->{completed} };
    return $ok && $req->fault->code != Pluton::Fault::serviceTimeout() ? 1 : 0;
}

*execute_and_wait_all  = \&wait_all;
*execute_and_wait_any  = \&wait_any;
*execute_and_wait_one  = \&wait_one;
*execute_and_wait_sent = \&wait_sent;

# run(@requests): adds them all and runs them together; returns the requests.
sub run {
    my ($self, @reqs) = @_;
    my @added = grep { $self->add_request($_) } @reqs;
    $self->wait_all if @added;
    return @reqs;
}

# reset: ends and forgets all outstanding requests of this client.
sub reset {
    my $self = shift;
    for my $req (values %{ $self->{outstanding} }) {
        $req->_close_socket;
        $req->{in_progress} = 0;
        $req->{fault} = Pluton::Fault->new(Pluton::Fault::requestNotAdded(), 'client reset');
    }
    $self->{outstanding} = {};
    $self->{order}       = [];
    $self->{completed}   = [];
    $self->{deadline}    = undef;
}

# call($key, $data, context => {...}, no_wait => 1, timeout_ms => ...):
# the response data; dies with a Pluton::Fault.
sub call {
    my ($self, $key, $data, %opt) = @_;
    my $timeout = delete $opt{timeout_ms};
    my $req = Pluton::Client::Request->new(key => $key, data => $data, %opt);
    local $self->{timeout_ms} = int($timeout) if defined $timeout && !%{ $self->{outstanding} };
    $self->add_request($req) or die $req->fault;
    $self->wait_one($req);
    if ($req->has_fault) {
        $self->{fault} = $req->fault;
        die $req->fault;
    }
    return $req->response;
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
    print $_->has_fault ? $_->fault->message : $_->response, "\n" for @r;

=head1 DESCRIPTION

The lookup location (C<lookup>, else C<$ENV{plutonLookupMap}>, else
F</usr/local/var/pluton/lookup.map>) is a lookup map file whose
C<rendezvous> line names the rendezvous directory, or that directory
itself. A key resolves to F<< <R>/<key>.socket >>, else the wildcard
F<< <R>/<App>..<Ver>.<Ser>.socket >>, else the fault C<serviceNotFound>.

All requests of a client share one clock of C<timeout_ms>, started by the
first wait after the client had nothing outstanding; when it expires every
outstanding request completes with C<serviceTimeout> (-19). Failed writes,
failed reads, incomplete or bad responses are retried once on a new
connection unless C<no_retry> or C<need_affinity> is set.

=head1 METHODS

C<new>, C<initialize([$lookup])>, C<call($key, $data, %options)>,
C<add_request($req)>, C<wait_all>, C<wait_any>, C<wait_one($req)>,
C<wait_sent>, C<run(@requests)>, C<reset>, C<timeout_ms>,
C<set_timeout_ms>, C<has_fault>, C<fault>, C<client_name>.

=cut
