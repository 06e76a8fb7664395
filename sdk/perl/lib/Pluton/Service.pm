package Pluton::Service;

use strict;
use warnings;

use Socket qw(SOL_SOCKET SO_ACCEPTCONN SO_RCVTIMEO SO_SNDTIMEO SOCK_STREAM PF_UNIX MSG_DONTWAIT pack_sockaddr_un);
use Carp ();
use POSIX ();
use Fcntl qw(F_GETFD F_GETFL F_SETFL FD_CLOEXEC O_NONBLOCK S_ISSOCK S_ISREG S_ISFIFO);
use Scalar::Util ();
use Time::HiRes ();

use Pluton::Fault;
use Pluton::Packet;
use Pluton::Packet::Decoder;
use Pluton::Recorder;
use Pluton::Request;
use Pluton::ServiceKey;
use Pluton::Stats;
use Pluton::Stats::Report;

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    MODE_MANAGER    => 'manager',
    MODE_ACCEPT     => 'accept',
    MODE_STANDALONE => 'standalone',
    # the first read of a connection: a request of 64 KiB of data with 4 KiB
    # of other fields arrives whole in it (when it is there) and is served
    # at once; the rest of a larger one is read into place
    READ_SIZE       => 69_632,
    # a response with more data is written in three parts (head, the data
    # where it is, end) instead of one copy
    WRITE_WHOLE     => 65_536,

    # defaults of docs/protocol.md section 8 (the fd 4 header may change them)
    DEFAULT_AFFINITY_TIMEOUT     => 60,
    DEFAULT_REQUEST_READ_TIMEOUT => 5,
    DEFAULT_MAXIMUM_REQUEST_SIZE => 64 * 1024 * 1024,
    DEFAULT_MAXIMUM_PENDING      => 64,
    ACCEPT_TIMEOUT               => 1,    # SO_RCVTIMEO on fd 3, the same in every SDK
    # buffers of large request data kept for the next requests of the same
    # length (Pluton::Packet::Decoder), at most this many and bytes in all;
    # dropped after ACCEPT_TIMEOUT without a connection
    POOL_BUFFERS                 => 4,
    POOL_BYTES                   => 16 * 1024 * 1024,
    NOT_ANSWERED                 => 'request not answered by the service',
};

# Set by the SIGTERM handler; the loop ends at its next wait.
my $STOP = 0;

sub new {
    my ($class, @args) = @_;
    my %o = @args == 1 ? (name => $args[0]) : @args;
    return bless {
        name        => defined $o{name} ? "$o{name}" : q{},
        initialized => 0,
        finished    => 0,
        stopped     => 0,
        on_stop     => [],
        requests    => 0,    # requests read (the slot's counter)
        served      => 0,    # requests handed to the service's code
        responses   => 0,
        faults      => 0,
        busy_us     => 0,
        exit_reason => Pluton::Stats::EXIT_NONE,
        keys        => {},   # key string => Pluton::ServiceKey
        pending     => [],   # connections whose packet is incomplete
        pool        => { count => 0, bytes => 0 },    # see _recycle
        state       => -1,
    }, $class;
}

sub name { my $self = shift; return $self->{name} }
sub mode { my $self = shift; return $self->{mode} }

sub api_version { return $VERSION }

sub on_stop {
    my ($self, $hook) = @_;
    Carp::croak('on_stop needs a code reference') unless ref $hook eq 'CODE';
    push @{ $self->{on_stop} }, $hook;
    return $self;
}

sub exit_reason { my $self = shift; return $self->{exit_reason} }

# ---------------------------------------------------------------- setup

sub _fd_mode {
    my $fd = shift;
    my @st = POSIX::fstat($fd);
    return @st ? $st[2] : undef;
}

# A handle on an inherited descriptor: open, without close-on-exec (perl's
# own files have the flag), and not the script itself (perl keeps a script
# with __END__ or __DATA__ open, possibly on fd 3). The handle is kept, so
# that it never closes the descriptor.
sub _inherited {
    my ($self, $fd, $how) = @_;
    my @st = POSIX::fstat($fd);
    return undef unless @st;    ## no critic (ProhibitExplicitReturnUndef)
    my @script = stat $0;
    return undef if @script && $script[0] == $st[0] && $script[1] == $st[1];    ## no critic (ProhibitExplicitReturnUndef)
    my $fh;
    {
        local $^F = $fd;    # so that open leaves the close-on-exec flag as it is
        open $fh, $how, $fd or return undef;    ## no critic (ProhibitExplicitReturnUndef, RequireBriefOpen)
    }
    push @{ $self->{held} }, $fh;
    my $flags = fcntl $fh, F_GETFD, 0;
    return undef if !defined $flags || ($flags & FD_CLOEXEC);    ## no critic (ProhibitExplicitReturnUndef)
    binmode $fh;
    return $fh;
}

# Manager mode: fd 3 a listening socket, fd 4 a regular file, fd 5 a FIFO,
# all inherited.
sub _manager_fds {
    my $self = shift;
    my @modes = map { _fd_mode($_) } 3, 4, 5;
    return 0 unless defined $modes[0] && S_ISSOCK($modes[0]);
    return 0 unless defined $modes[1] && S_ISREG($modes[1]);
    return 0 unless defined $modes[2] && S_ISFIFO($modes[2]);
    my $l = $self->_inherited(3, '+<&=') or return 0;
    return 0 unless $self->_inherited(4, '+<&=') && $self->_inherited(5, '>&=');
    my $v = getsockopt $l, SOL_SOCKET, SO_ACCEPTCONN;
    return 0 unless defined $v && unpack('i', $v) == 1;
    $self->{listen} = $l;
    return 1;
}

sub _install_signals {
    my $self = shift;
    $STOP = 0;
    my $prev = $SIG{TERM};
    $self->{chained} = ref $prev eq 'CODE' ? $prev : undef;
    my $svc = $self;
    Scalar::Util::weaken($svc);
    my $handler = sub {
        $STOP = 1;
        $svc->{chained}->(@_) if $svc && $svc->{chained};
        return;
    };
    # no SA_RESTART: a blocking call returns EINTR and the loop sees $STOP
    my $act = POSIX::SigAction->new($handler, POSIX::SigSet->new, 0);
    $act->safe(1);
    POSIX::sigaction(POSIX::SIGTERM(), $act)
        or print {*STDERR} "Pluton::Service: cannot install the SIGTERM handler: $!\n";
    return;
}

sub _init_fault {
    my ($self, $code, $text, $errno) = @_;
    die Pluton::Fault->new(code => $code, text => $text, ($errno ? (errno => $errno) : ()));
}

sub initialize {
    my $self = shift;
    return $self if $self->{initialized};
    $self->{pid}        = $$;
    $self->{trace}      = exists $ENV{plutonPacketTrace} ? 1 : 0;
    $self->{service_id} = "$self->{name}:$$/0";
    $self->{affinity_timeout} = DEFAULT_AFFINITY_TIMEOUT;
    $self->{read_timeout}     = DEFAULT_REQUEST_READ_TIMEOUT;
    $self->{max_size}         = DEFAULT_MAXIMUM_REQUEST_SIZE;
    $self->{max_pending}      = DEFAULT_MAXIMUM_PENDING;
    $self->{max_requests}     = 0;

    if ($self->_manager_fds) {
        $self->{mode} = MODE_MANAGER;
        my $slot = $ENV{plutonSlot};
        my ($stats, $why) = Pluton::Stats->open_segment(4, $slot);
        if ($stats) {
            my $threads = $stats->threads_per_instance;
            if ($threads > 1) {
                # as the original's initialize: a threaded config needs a threaded service
                $stats->close;
                $self->_init_fault(Pluton::Fault::SHM_THREAD_CONFIG_NOT_SERVICE,
                    "maximum-threads $threads is not supported by the Perl SDK: an instance serves "
                    . 'one request at a time; set maximum-threads 1 and raise maximum-processes');
            }
            $self->{stats} = $stats;
            $self->{affinity_timeout} = $stats->affinity_timeout || DEFAULT_AFFINITY_TIMEOUT;
            $self->{read_timeout}     = $stats->request_read_timeout || DEFAULT_REQUEST_READ_TIMEOUT;
            $self->{max_size}         = $stats->maximum_request_size || DEFAULT_MAXIMUM_REQUEST_SIZE;
            $self->{max_pending}      = $stats->maximum_pending || DEFAULT_MAXIMUM_PENDING;
            $self->{max_requests}     = $stats->maximum_requests;
            if (length $stats->recorder_prefix) {
                $self->{recorder} = Pluton::Recorder->new($stats->recorder_prefix, $stats->recorder_cycle);
            }
        }
        else {
            print {*STDERR} "Pluton::Service: running without stats: $why\n";
        }
        $self->{report} = Pluton::Stats::Report->new(5, $slot);
        $SIG{PIPE} = 'IGNORE';    ## no critic (RequireLocalizedPunctuationVars)
        $self->_socket_setup;
        $self->_install_signals;
        if ($self->{stats}) {
            $self->{stats}->write_pid($$);
            $self->_set_state(Pluton::Stats::STATE_IDLE);
        }
    }
    elsif (defined $ENV{plutonAcceptSocket} && length $ENV{plutonAcceptSocket}) {
        $self->{mode} = MODE_ACCEPT;
        my $path = $ENV{plutonAcceptSocket};
        my $failed = sub {
            my $step = shift;
            $self->_init_fault(Pluton::Fault::OPEN_ACCEPT_SOCKET_FAILED,
                "$step $path (plutonAcceptSocket): $!; pick a path in a writable directory, "
                . 'at most 107 bytes long', 0 + $!);
        };
        unlink $path or $!{ENOENT} or $failed->('unlink');
        socket my $l, PF_UNIX, SOCK_STREAM, 0 or $failed->('socket');
        my $addr = length($path) > 107 ? undef : eval { pack_sockaddr_un($path) };
        if (!defined $addr) {
            $! = POSIX::ENAMETOOLONG();    ## no critic (RequireLocalizedPunctuationVars)
            $failed->('bind');
        }
        bind $l, $addr  or $failed->('bind');
        listen $l, 20   or $failed->('listen');
        $self->{listen} = $l;
        $SIG{PIPE} = 'IGNORE';    ## no critic (RequireLocalizedPunctuationVars)
        $self->_socket_setup;
        $self->_install_signals;
    }
    else {
        $self->{mode} = MODE_STANDALONE;
        my $in = $self->_inherited(3, '<&=');
        if (!$in) {
            $self->_init_fault(Pluton::Fault::NO_FAUX_STDIN,
                'no request source: fd 3 is not open; run the service under plutonManager, '
                . 'with plTest, or as ./svc 3<request 4>response');
        }
        $self->{in} = $in;
        $self->_install_signals;
    }
    $self->{decoder} = $self->_new_decoder;
    $self->{initialized} = 1;
    return $self;
}

sub _new_decoder {
    my $self = shift;
    return Pluton::Packet::Decoder->new('Q',
        pool      => $self->{pool},
        known     => $self->{keys},
        keep_raw  => ($self->{trace} || $self->{recorder}) ? 1 : 0,
        check_key => 1,
        max_size  => $self->{max_size});
}

# fd 3: blocking, and SO_RCVTIMEO of 1 s so that accept returns at least once
# a second (docs/protocol.md section 8).
sub _socket_setup {
    my $self = shift;
    my $l = $self->{listen};
    my $flags = fcntl $l, F_GETFL, 0;
    fcntl $l, F_SETFL, $flags & ~O_NONBLOCK if defined $flags && ($flags & O_NONBLOCK);
    setsockopt $l, SOL_SOCKET, SO_RCVTIMEO, pack('q q', ACCEPT_TIMEOUT, 0);
    $self->{listen_fd} = fileno $l;
    return;
}

# ---------------------------------------------------------------- the loop

sub next {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    $self->initialize unless $self->{initialized};
    if (my $owed = $self->{owed}) {
        $self->_answer($owed, Pluton::Fault::SERVICE_EXCEPTION, NOT_ANSWERED, q{});
    }
    return undef if $self->{finished};    ## no critic (ProhibitExplicitReturnUndef)
    my $got = $self->{mode} eq MODE_STANDALONE ? $self->_next_standalone : $self->_next_socket;
    if (!$got) {
        $self->_end;
        die $self->{fault} if $self->{fault};
        return undef;    ## no critic (ProhibitExplicitReturnUndef)
    }
    return $self->_hand_over($got);
}

sub serve {
    my ($self, $handler) = @_;
    Carp::croak('serve needs a code reference') unless ref $handler eq 'CODE';
    $self->initialize unless $self->{initialized};
    my $fast = $self->{mode} eq MODE_MANAGER && $self->{stats} && $self->{stats}{mapped} && $self->{report}
        && !$self->{trace} && !$self->{recorder};
    while (1) {
        my $request = $fast && !$self->{finished} ? $self->_serve_fast($handler) : undef;
        $request ||= $self->next;
        last unless $request;
        my $out;
        if (eval { $out = $handler->($request); 1 }) {
            if (!$request->{answered}) {
                $out = q{} unless defined $out;
                utf8::encode($out) if utf8::is_utf8($out);
                $self->_answer($request, 0, q{}, $out);
            }
        }
        else {
            $self->_handler_died($request, $@);
        }
        undef $out;
        $self->_recycle($request);
    }
    return;
}

# _recycle($request): lets go of the caller's request ($_[0], answered);
# when nothing else holds it, the buffer of its large data goes to the pool
# that decoders read large payloads of that length into, instead of being
# freed (and given back to the system, and faulted in again for the next).
sub _recycle {    ## no critic (RequireArgUnpacking)
    my $self = shift;
    my $f = $_[0]{f};
    my $n = defined $f->{k} ? length $f->{k} : 0;
    my $pool = $self->{pool};
    if ($n < Pluton::Packet::Decoder::LARGE || !$_[0]{answered} || $pool->{count} >= POOL_BUFFERS
        || $pool->{bytes} + $n > POOL_BYTES) {
        undef $_[0];
        return;
    }
    Scalar::Util::weaken($_[0]);
    return if $_[0];    # the service's code keeps the request
    push @{ $pool->{$n} }, delete $f->{k};
    $pool->{count}++;
    $pool->{bytes} += $n;
    return;
}

# The handler died with $err: a Pluton::Fault is sent as it is; anything else
# is fault 6 naming it, and the whole message goes to stderr.
sub _handler_died {
    my ($self, $request, $err) = @_;
    my $what = "request $request->{f}{b} ($request->{k})";
    if (Scalar::Util::blessed($err) && $err->isa('Pluton::Fault')) {
        return $self->_answer($request, $err->code, $err->text, q{}) unless $request->{answered};
        print {*STDERR} "Pluton::Service: the handler died with a fault after answering $what: $err\n";
        return;
    }
    my $text;
    if (Scalar::Util::blessed($err)) {
        my $m = $err->can('message') ? $err->message : $err->can('as_string') ? $err->as_string : "$err";
        $text = ref($err) . ': ' . (defined $m ? $m : q{});
        $text =~ s/\s+\z//;
    }
    else {
        $text = defined $err ? "$err" : 'Died';
        $text =~ s/ at \S+ line \d+(?:, <[^>]*> (?:line|chunk) \d+)?\.\n\z//;
        $text =~ s/\s+\z//;
    }
    (my $full = defined $err ? "$err" : 'Died') =~ s/\n*\z/\n/;
    print {*STDERR} "Pluton::Service: the handler died on $what: $full";
    return if $request->{answered};
    return $self->_answer($request, Pluton::Fault::SERVICE_EXCEPTION, $text, q{});
}

# The loop ends: stop hooks, then the final statistics and report.
sub _end {
    my $self = shift;
    return if $self->{finished};
    $self->{stopped} = 1;
    my @hooks = @{ $self->{on_stop} };
    $self->{on_stop} = [];
    for my $hook (@hooks) {
        eval { $hook->(); 1 } or print {*STDERR} "Pluton::Service: an on_stop hook died: $@";
    }
    $self->_terminate;
    return;
}

sub _stop_reason {
    my $self = shift;
    my $r = $self->{stats} ? $self->{stats}->shutdown_request : 0;
    return $r || Pluton::Stats::EXIT_SERVICE_SHUTDOWN;
}

sub _set_state {
    my ($self, $state) = @_;
    $self->{state} = $state;
    $self->{stats}->write_state($state, Pluton::Stats::now_us()) if $self->{stats};
    return;
}

# The instance waits for connections, or for the next request of an
# affinity connection: from here on it is no longer accountable for the last
# request (docs/protocol.md section 4.2).
sub _waiting {
    my ($self, $state) = @_;
    if ($self->{state} != $state) {
        $self->{state} = $state;
        $self->{stats}->write_state($state, int(Time::HiRes::time() * 1_000_000)) if $self->{stats};
    }
    my $report = $self->{report};
    $report->flush if $report && defined $report->{oldest} && Time::HiRes::time() - $report->{oldest} >= 1;
    return;
}

# A connection record: { fh, fd, dec (its decoder), t0 (accepted), deadline,
# pkt or err once read }.

# Reads what is there; called only when poll said the connection is
# readable, so the read returns at once with what is there (or EOF): it never
# waits for the client. The decoder reads into place: the rest of a netstring
# of known length in one read when it is there, a large payload into a
# scalar of its own (Pluton::Packet::Decoder::fill). 'done' (a packet, or a
# decoder error in $c->{err}), 'more', or 'eof' / 'error' (the connection is
# dead).
sub _read_conn {
    my ($self, $c) = @_;
    my $dec = $c->{dec};
    my $r = $dec->fill($c->{fh}, READ_SIZE);
    if (!defined $r) {
        return 'more' if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
        return 'error';
    }
    return 'eof' if !$r;
    my ($pkt, $err) = $dec->next;
    if ($pkt) {
        $c->{pkt} = $pkt;
        return 'done';
    }
    if ($err) {
        $c->{err} = $err;
        return 'done';
    }
    return 'more';
}

# A connection that cannot give a request: closed, a readError entry.
sub _drop {
    my ($self, $c, $why) = @_;
    close $c->{fh};
    if ($self->{mode} eq MODE_ACCEPT && defined $why) {
        print {*STDERR} "Pluton::Service: dropped a connection: $why\n";
    }
    $self->_report(Pluton::Stats::OUTCOME_READ_ERROR, $c->{t0}, 0, 0, q{});
    return;
}

# A read that ended: the request, or undef after dealing with the problem.
sub _finished_read {
    my ($self, $c, $how) = @_;
    if ($how eq 'done' && $c->{pkt}) {
        return $c;
    }
    if ($how eq 'done') {
        my $err = $c->{err};
        if ($err->{kind} eq 'too_large') {
            $self->_too_large($c);
        }
        else {
            $self->_drop($c, $err->{text});
        }
    }
    elsif ($how eq 'eof' && $c->{dec}->pending) {
        $self->_drop($c, 'unexpected EOF in packet');
    }
    else {
        $self->_drop($c, $how eq 'eof' ? undef : "read: $!");
    }
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# fault 3 at once, without reading the body; the id and client name are
# those already read.
sub _too_large {
    my ($self, $c) = @_;
    my $f = $c->{dec}->partial_fields;
    my $id = Pluton::Packet::number($f->{b});
    my $pkt = Pluton::Packet::response_packet($id, defined $f->{a} ? $f->{a} : q{}, $self->{service_id},
        Pluton::Fault::REQUEST_TOO_LARGE, $c->{err}{text}, q{});
    $self->_trace('PktOut', $pkt) if $self->{trace};
    send $c->{fh}, $pkt, MSG_DONTWAIT;
    close $c->{fh};
    $self->{requests}++;
    $self->{faults}++;
    $self->{stats}->write_counters($self->{requests}, $self->{responses}, $self->{faults}, $self->{busy_us})
        if $self->{stats};
    $self->_report(Pluton::Stats::OUTCOME_FAULT, $c->{t0}, 0, 0, q{});
    return;
}

# Accepts one connection (blocking, at most ACCEPT_TIMEOUT) and reads what
# it holds. The connection with its packet, or undef (nothing yet, pending).
sub _accept_one {
    my $self = shift;
    my $fh;
    accept $fh, $self->{listen} or return $self->_accept_failed;
    my $now = Time::HiRes::time();
    my $c = { fh => $fh, fd => fileno $fh, dec => $self->{decoder}, t0 => $now,
        deadline => $now + $self->{read_timeout} };
    # the usual case: the whole request in the first read
    my $r = recv $fh, my $buf, READ_SIZE, MSG_DONTWAIT;
    my $errno = 0 + $!;
    my ($f, $i, $whole) = defined $r ? Pluton::Packet::Decoder::scan_prefix(\$buf, $self->{max_size}) : ();
    if ($whole && ($self->{keys}{ defined $f->{c} ? $f->{c} : q{} } || $self->_good_key($f->{c}))) {
        $c->{dec}->reset;    # no state of an earlier connection (affinity reads on with it)
        $c->{pkt} = { fields => $f, raw => ($self->{trace} || $self->{recorder}) ? $buf : undef };
        return $c;
    }
    # the decoder goes on from where the scan stopped
    return $self->_first_read($c, $r, $buf, $errno, $f && !exists $f->{z} ? ($f, $i) : ());
}

# accept failed: undef, and for anything but a timeout or an interruption
# the loop fails with acceptFailed.
sub _accept_failed {
    my $self = shift;
    if ($!{EAGAIN} || $!{EWOULDBLOCK}) {    # a second without a connection: the pool's memory goes back
        %{ $self->{pool} } = (count => 0, bytes => 0) if $self->{pool}{count};
        return undef;    ## no critic (ProhibitExplicitReturnUndef)
    }
    return undef if $!{EINTR} || $!{ECONNABORTED};    ## no critic (ProhibitExplicitReturnUndef)
    $self->{fault} = Pluton::Fault->new(code => Pluton::Fault::ACCEPT_FAILED,
        text => 'accept on the service socket', errno => 0 + $!);
    $self->{exit_reason} = Pluton::Stats::EXIT_ACCEPT_FAILED if $self->{mode} eq MODE_MANAGER;
    $self->{failed} = 1;
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# _first_read($c, $r, $buf, $errno, $fields, $pos): the first read ($r,
# $buf, and the errno of recv) of connection $c gave no whole request with a
# known key: the decoder decides, from $pos with the $fields scanned before
# it when they are given. The connection with its packet, or undef
# (dropped, or pending when incomplete).
sub _first_read {    ## no critic (RequireArgUnpacking)
    my ($self, $c, $r, undef, $errno, $fields, $pos) = @_;
    local $! = $errno;
    my $dec = $c->{dec};
    if (defined $r && length $_[3]) {
        my ($pkt, $err);
        if ($fields) {
            ($pkt, $err) = $dec->resume($fields, $_[3], $pos);
        }
        else {
            $dec->reset;
            $dec->add($_[3]);
            ($pkt, $err) = $dec->next;
        }
        $c->{pkt} = $pkt;
        $c->{err} = $err;
    }
    else {
        $dec->reset;
    }
    my $how = $c->{pkt} || $c->{err} ? 'done'
            : !defined $r            ? ($!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR} ? 'more' : 'error')
            : length $_[3]           ? 'more'
            :                          'eof';
    return $self->_finished_read($c, $how) if $how ne 'more';
    # incomplete after the first read: pending, with a decoder of its own
    # (the next one knows the keys this one has checked)
    my $next = $self->{decoder} = delete $self->{spare_decoder} || $self->_new_decoder;
    $next->{good_key} = $dec->{good_key};
    my $pending = $self->{pending};
    if (@{$pending} >= $self->{max_pending}) {
        $self->_drop(shift @{$pending}, 'the pending set is full');
    }
    push @{$pending}, $c;
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# The common case of serve in one sub (the handler form under the
# manager, with the slot mapped, no recorder and no trace): accept, the
# whole request in the first read with a key seen before and neither noWait
# nor keepAffinity, the slot and the handler, the response, the counters
# and the report, with the same effects as next + _hand_over + _answer.
# It returns at the first thing out of the ordinary: a request to serve the
# general way (from _hand_over), or undef to let next decide (stop signal,
# pending or affinity connections, maximum-requests, Pluton::Coord, an
# accept timeout or failure, a lost connection).
sub _serve_fast {
    my ($self, $handler) = @_;
    my ($listen, $keys, $report, $max) = @{$self}{qw(listen keys report max_requests)};
    my ($map, $base) = @{ $self->{stats} }{qw(map base)};
    my $pending = $self->{pending};
    my $max_size = $self->{max_size};
    my $sfield = length($self->{service_id}) . 's' . $self->{service_id} . ',';
    my $now = Time::HiRes::time();
    while (!$STOP && !$self->{failed} && !$self->{lost_io} && !$self->{affinity} && !@{$pending}
        && !$self->{owed} && !($max && $self->{served} >= $max) && !$INC{'Pluton/Coord.pm'}) {
        # waiting (_waiting): no longer accountable for the last request
        if ($self->{state} != Pluton::Stats::STATE_IDLE) {
            $self->{state} = Pluton::Stats::STATE_IDLE;
            substr $$map, $base + 4, 12, pack 'V Q<', Pluton::Stats::STATE_IDLE, int($now * 1_000_000);
        }
        $report->flush if defined $report->{oldest} && $now - $report->{oldest} >= 1;

        my $fh;
        accept $fh, $listen or return $self->_accept_failed;
        my $t0 = Time::HiRes::time();
        my $r = recv $fh, my $buf, READ_SIZE, MSG_DONTWAIT;
        my $errno = 0 + $!;
        # Pluton::Packet::Decoder::scan_request, inline and without pos():
        # the fields of a whole, well-formed request, else none
        my ($f, $len, $i) = ({}, defined $r ? length $buf : 0, 3);
        $f = undef unless $len && substr($buf, 0, 3) eq '0Q,';
        while ($f) {
            my ($n, $t) = substr($buf, $i, 10) =~ /\A([0-9]{1,9})([\x20-\x2f\x3a-\x7e])/ or last;
            my $end = $i + length($n) + 1 + $n;
            last if $end >= $len || ($max_size && $n > $max_size) || exists $f->{$t} || $t gt 'z';
            my $term = substr $buf, $end, 1;
            last if $term ne ',' && $term ne "\n";
            $f->{$t} = substr $buf, $end - $n, $n;
            $i = $end + 1;
            last if $t eq 'z';
        }
        my $key = $f && exists $f->{z} && $i == $len && $keys->{ defined $f->{c} ? $f->{c} : q{} };
        my $since = $t0;    # handed over
        if (!ref $key || exists $f->{e} || exists $f->{h}) {    # (ref: no call of the key's bool overload)
            my $c = { fh => $fh, fd => fileno $fh, dec => $self->{decoder}, t0 => $t0,
                deadline => $t0 + $self->{read_timeout} };
            if ($key) {
                $c->{dec}->reset;    # no state of an earlier connection
                $c->{pkt} = { fields => $f, raw => undef };
                return $self->_hand_over($c);
            }
            # incomplete (late or large): pending; when it is the only one,
            # waited for here
            # (the decoder goes on from where the scan stopped)
            $c = $self->_first_read($c, $r, $buf, $errno, $f && !exists $f->{z} ? ($f, $i) : ())
                || $self->_wait_one;
            return undef unless $c;    ## no critic (ProhibitExplicitReturnUndef)
            $f = $c->{pkt}{fields};
            $key = $keys->{ defined $f->{c} ? $f->{c} : q{} };
            return $self->_hand_over($c) if !ref $key || exists $f->{e} || exists $f->{h};
            $since = Time::HiRes::time();
        }

        # handed over (_hand_over)
        my $id = $f->{b};
        $id = Pluton::Packet::number($id) unless defined $id && $id =~ /\A(?:0|-?[1-9][0-9]{0,17})\z/;
        my $name = defined $f->{a} ? $f->{a} : q{};
        # no connection record (c): never pending nor kept for affinity
        my $req = bless { f => $f, s => $self, t => $since, k => $key, fh => $fh }, 'Pluton::Request';
        $self->{served}++;
        $self->{state} = Pluton::Stats::STATE_BUSY;
        substr $$map, $base + 4, 20, pack 'V Q< Q<', Pluton::Stats::STATE_BUSY, int($since * 1_000_000),
            ++$self->{requests};
        my $who = length $name > Pluton::Stats::CLIENT_NAME_MAX ? substr $name, 0, Pluton::Stats::CLIENT_NAME_MAX : $name;
        $who = pack 'Q< V V a*', $id < 0 ? 0 : $id, Pluton::Stats::NOT_RECORDING, length $who, $who;
        substr $$map, $base + 64, length $who, $who;

        my $out;
        if (!eval { $out = $handler->($req); 1 }) {
            $self->_handler_died($req, $@);
            $now = Time::HiRes::time();
            next;
        }
        if ($req->{answered}) {
            $now = Time::HiRes::time();
            next;
        }

        # answered (_answer)
        $out = q{} unless defined $out;
        utf8::encode($out) if utf8::is_utf8($out);
        @{$req}{qw(answered c s)} = (1, undef, undef);
        my $werr;
        if (length $out <= WRITE_WHOLE) {
            my $pkt = '0A,' . length($id) . 'b' . $id . ','
                . (length $name ? length($name) . 'a' . $name . ',' : q{}) . $sfield
                . (length $out ? length($out) . 'q' . $out . ',' : q{}) . "0z\n";
            my $w = send $fh, $pkt, MSG_DONTWAIT;    # never waits: the rest, if any, bounded
            $werr = !defined $w || $w != length $pkt ? _write_rest($fh, $pkt, $w, $self->{read_timeout}) : 0;
        }
        else {
            $werr = _write_response($fh, '0A,' . length($id) . 'b' . $id . ','
                . (length $name ? length($name) . 'a' . $name . ',' : q{}) . $sfield, $out, $self->{read_timeout});
        }
        close $fh;
        my $ok = $werr ? $self->_write_failed($werr, 1) : 1;
        $now = Time::HiRes::time();
        my $busy = int(($now - $since) * 1_000_000);
        $busy = 0 if $busy < 0;
        $self->{busy_us} += $busy;
        my $dur = $since == $t0 ? $busy : int(($now - $t0) * 1_000_000);
        $self->{responses}++ if $ok;
        # the counters, and idle at once: the next thing is the wait for a connection
        $self->{state} = Pluton::Stats::STATE_IDLE;
        substr $$map, $base + 4, 44, pack 'V Q< Q< Q< Q< Q<', Pluton::Stats::STATE_IDLE, int($now * 1_000_000),
            @{$self}{qw(requests responses faults busy_us)};
        if ($report->{ok}) {    # Pluton::Stats::Report::add
            my $e = $report->{entries};
            push @{$e}, pack 'V V V V a16', $ok ? Pluton::Stats::OUTCOME_OK : Pluton::Stats::OUTCOME_WRITE_ERROR,
                $dur > 0xFFFF_FFFF ? 0xFFFF_FFFF : $dur < 0 ? 0 : $dur, length(defined $f->{k} ? $f->{k} : q{}),
                length $out, defined $key->{function} ? $key->{function} : q{};
            $report->{oldest} = $now unless defined $report->{oldest};
            $report->flush if @{$e} >= Pluton::Stats::Report::REPORT_ENTRIES;
        }
        undef $out;
        $self->_recycle($req);
    }
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# The one connection of the pending set, just made pending by _serve_fast,
# waited for there as _poll_pending would: poll on it and fd 3 until its
# deadline. The connection with its packet once it completes, or undef to
# let the general loop go on (the connection was dropped, or it is still
# pending and a new connection, the stop signal, a poll timeout or its
# deadline came first).
sub _wait_one {
    my $self = shift;
    my $pending = $self->{pending};
    return undef unless @{$pending} == 1;    ## no critic (ProhibitExplicitReturnUndef)
    my $c = $pending->[0];
    my ($lfd, $cfd) = ($self->{listen_fd}, $c->{fd});
    my $rin = q{};
    vec($rin, $lfd, 1) = 1;
    vec($rin, $cfd, 1) = 1;
    while (!$STOP) {
        my $left = $c->{deadline} - Time::HiRes::time();
        last if $left <= 0;
        my $n = select my $rout = $rin, undef, undef, $left < ACCEPT_TIMEOUT ? $left : ACCEPT_TIMEOUT;
        last if !$n || $n < 0;
        if (vec $rout, $cfd, 1) {
            my $how = $self->_read_conn($c);
            if ($how ne 'more') {
                @{$pending} = ();
                my $got = $self->_finished_read($c, $how) or return undef;    ## no critic (ProhibitExplicitReturnUndef)
                # its decoder serves the next connections, with the keys it
                # has checked, and the one made for them is kept for the next
                # pending connection
                if (!exists $got->{pkt}{fields}{h}) {
                    $self->{spare_decoder} = $self->{decoder};
                    $self->{decoder} = $c->{dec};
                }
                return $got;
            }
        }
        last if vec $rout, $lfd, 1;
    }
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# A key not seen yet: good if it passes the client rules (it is then cached
# by _hand_over).
sub _good_key {
    my ($self, $key) = @_;
    return !defined Pluton::ServiceKey->check(defined $key ? $key : q{}, client => 1);
}

# Waits on fd 3 (not when $draining: the instance is leaving, at its
# maximum requests or on the stop signal) and the pending connections at once.
sub _poll_pending {
    my ($self, $draining) = @_;
    my $pending = $self->{pending};
    my $now = Time::HiRes::time();
    my $wake = $now + ACCEPT_TIMEOUT;
    my @live;
    for my $c (@{$pending}) {
        if ($c->{deadline} <= $now) {
            $self->_drop($c, 'request-read-timeout');
            next;
        }
        push @live, $c;
        $wake = $c->{deadline} if $c->{deadline} < $wake;
    }
    @{$pending} = @live;
    return undef unless @live;    ## no critic (ProhibitExplicitReturnUndef)
    my $rin = q{};
    vec($rin, $self->{listen_fd}, 1) = 1 unless $draining;
    vec($rin, $_->{fd}, 1) = 1 for @live;
    my $n = select my $rout = $rin, undef, undef, $wake - $now;
    return undef if !$n || $n < 0;    ## no critic (ProhibitExplicitReturnUndef)
    for my $i (0 .. $#live) {
        my $c = $live[$i];
        next unless vec $rout, $c->{fd}, 1;
        my $how = $self->_read_conn($c);
        next if $how eq 'more';
        @{$pending} = grep { $_ != $c } @{$pending};
        my $got = $self->_finished_read($c, $how);
        return $got if $got;
    }
    return $self->_accept_one if !$draining && vec $rout, $self->{listen_fd}, 1;
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# The next request of the affinity connection, or undef (closed, timed out,
# stopping).
sub _affinity_next {
    my $self = shift;
    my $c = $self->{affinity};
    my $dec = $c->{dec};
    my $deadline = Time::HiRes::time() + $self->{affinity_timeout};
    my $started = $dec->pending ? 1 : 0;
    if ($started) {
        # bytes of the next request came with the last one
        my ($pkt, $err) = $dec->next;
        if ($pkt || $err) {
            $c->{pkt} = $pkt;
            $c->{err} = $err;
            $self->{affinity} = undef;
            return $self->_finished_read($c, 'done');
        }
        $c->{deadline} = Time::HiRes::time() + $self->{read_timeout};
    }
    while (!$STOP) {
        my $now = Time::HiRes::time();
        my $until = $started ? $c->{deadline} : $deadline;
        last if $now >= $until;
        my $rin = q{};
        vec($rin, $c->{fd}, 1) = 1;
        my $left = $until - $now;
        my $n = select my $rout = $rin, undef, undef, $left < ACCEPT_TIMEOUT ? $left : ACCEPT_TIMEOUT;
        next if !$n || $n < 0;
        my $how = $self->_read_conn($c);
        if ($how eq 'more') {
            if (!$started) {
                $started = 1;
                $c->{t0} = Time::HiRes::time();
                $c->{deadline} = $c->{t0} + $self->{read_timeout};
            }
            next;
        }
        $self->{affinity} = undef;
        if ($how eq 'eof' && !$dec->pending && !$started) {
            close $c->{fh};    # the client ended the affinity: not a request
            return undef;      ## no critic (ProhibitExplicitReturnUndef)
        }
        $c->{t0} = Time::HiRes::time() unless $started;
        return $self->_finished_read($c, $how);
    }
    # timeout or stop: the affinity ends without a request (a partial one is a read error)
    $self->{affinity} = undef;
    if ($started) { $self->_drop($c, 'request-read-timeout') }
    else          { close $c->{fh} }
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# The next complete request in manager or accept mode, or undef to stop.
sub _next_socket {
    my $self = shift;
    while (1) {
        return undef if $self->{failed} || $self->{lost_io};    ## no critic (ProhibitExplicitReturnUndef)
        if ($STOP) {
            if (@{ $self->{pending} } && !$self->{affinity}) {
                # Serve the connections already accepted before leaving
                # (each bounded by its deadline).
                my $c = $self->_poll_pending(1);
                return $c if $c;
                next;
            }
            $self->{exit_reason} = $self->_stop_reason;
            return undef;    ## no critic (ProhibitExplicitReturnUndef)
        }
        if ($self->{affinity}) {
            $self->_waiting(Pluton::Stats::STATE_AFFINITY);
            my $c = $self->_affinity_next;
            return $c if $c;
            next;
        }
        my $max = $self->{max_requests};
        if ($max && $self->{served} >= $max) {
            if (@{ $self->{pending} }) {
                # Accept no more, but serve the connections already accepted
                # before leaving: their clients must not lose their requests.
                my $c = $self->_poll_pending(1);
                return $c if $c;
                next;
            }
            $self->{exit_reason} = Pluton::Stats::EXIT_MAX_REQUESTS;
            return undef;    ## no critic (ProhibitExplicitReturnUndef)
        }
        Pluton::Coord::poll_all() if $INC{'Pluton/Coord.pm'};    # messages and timer ticks, between requests
        $self->_waiting(Pluton::Stats::STATE_IDLE);
        my $c = @{ $self->{pending} } ? $self->_poll_pending : $self->_accept_one;
        return $c if $c;
    }
    return;
}

sub _next_standalone {
    my $self = shift;
    return undef if $STOP || $self->{lost_io};    ## no critic (ProhibitExplicitReturnUndef)
    my $dec = $self->{decoder};
    my $t0 = Time::HiRes::time();
    my $buffered = $dec->pending;
    while (1) {
        if ($buffered) {
            my ($pkt, $err) = $dec->next;
            return { pkt => $pkt, t0 => $t0 } if $pkt;
            return $self->_standalone_fault($err) if $err;
        }
        my $r = $dec->fill($self->{in}, READ_SIZE);
        if (!defined $r) {
            return undef if $STOP;    ## no critic (ProhibitExplicitReturnUndef)
            next if $!{EINTR} || $!{EAGAIN};
            $self->{fault} = Pluton::Fault->new(code => Pluton::Fault::SOCKET_READ_FAILED,
                text => "reading a request from fd 3: $!", errno => 0 + $!);
            return undef;    ## no critic (ProhibitExplicitReturnUndef)
        }
        if ($r == 0) {
            my $e = $dec->eof or return undef;    ## no critic (ProhibitExplicitReturnUndef)
            return $self->_standalone_fault($e);
        }
        $buffered = 1;
    }
    return;
}

sub _standalone_fault {
    my ($self, $err) = @_;
    if ($err->{kind} eq 'too_large') {
        # fault 3 on fd 4; the input cannot be resynchronised, so the loop ends with it
        my $f = $self->{decoder}->partial_fields;
        my $pkt = Pluton::Packet::response_packet(Pluton::Packet::number($f->{b}),
            defined $f->{a} ? $f->{a} : q{}, $self->{service_id}, Pluton::Fault::REQUEST_TOO_LARGE,
            $err->{text}, q{});
        $self->_trace('PktOut', $pkt) if $self->{trace};
        if (my $out = $self->_out_fh) {
            local $SIG{PIPE} = 'IGNORE';
            _write_all($out, $pkt);
        }
        $self->{fault} = Pluton::Fault->new(code => Pluton::Fault::REQUEST_TOO_LARGE, text => $err->{text});
        return undef;    ## no critic (ProhibitExplicitReturnUndef)
    }
    my $code = $err->{kind} eq 'netstring' ? Pluton::Fault::REQUEST_NET_STRING_PARSE_ERROR
             :                               Pluton::Fault::REQUEST_DECODE_FAILED;
    $self->{fault} = Pluton::Fault->new(code => $code, text => $err->{text});
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# A complete request goes to the service's code: the slot says busy and names
# the request, the recorder keeps it, noWait closes the connection.
sub _hand_over {
    my ($self, $c) = @_;
    my $fields = $c->{pkt}{fields};
    my $keystr = defined $fields->{c} ? $fields->{c} : q{};
    my $key = $self->{keys}{$keystr} ||= Pluton::ServiceKey->_from_checked($keystr);
    my $now = Time::HiRes::time();
    my $req = bless { f => $fields, s => $self, t => $now, k => $key, c => $c }, 'Pluton::Request';
    $self->{requests}++;
    $self->{served}++;
    my $raw = $c->{pkt}{raw};
    my $rec = $self->{recorder};
    if ($rec && $rec->ok) {
        $req->{rec} = $rec->next_index;
        $rec->write('in', $req->{rec}, $raw);
    }
    if (my $stats = $self->{stats}) {
        $self->{state} = Pluton::Stats::STATE_BUSY;
        my $id = $fields->{b};
        $id = Pluton::Packet::number($id) unless defined $id && $id =~ /\A(?:0|-?[1-9][0-9]{0,17})\z/;
        $stats->begin_request(int($now * 1_000_000), $self->{requests}, $id,
            defined $req->{rec} ? $req->{rec} : Pluton::Stats::NOT_RECORDING,
            defined $fields->{a} ? $fields->{a} : q{});
    }
    $self->_trace('PktIn', $raw) if $self->{trace};
    if (exists $fields->{e} && $c->{fh}) {    # noWait: closed once read
        close $c->{fh};
        $c->{fh} = undef;
    }
    $c->{pkt} = undef;
    $self->{owed} = $req;
    return $req;
}

sub _trace {
    my ($self, $what, $bytes) = @_;
    return unless defined $bytes;
    my $line = "$what: $bytes";
    $line .= "\n" unless $line =~ /\n\z/;
    print {*STDERR} $line;
    return;
}

# _write_all($fh, $bytes, $off, $bound): writes all of $bytes (after $off
# written already; the caller's string itself, not a copy); returns 0, or the
# errno of the failed write. $bound: $fh is a blocking connection whose
# writes _bound_writes has bounded by $bound seconds: a write that fails with
# EAGAIN found no room for that long, and one that returns part of what it
# was given without a signal (the stop signal, or any after that long) took
# part and then found no room for that long; either gives ETIMEDOUT (the
# client takes nothing). A write interrupted by the stop signal is resumed:
# the stop waits at most that bound.
sub _write_all {    ## no critic (RequireArgUnpacking)
    my ($fh, undef, $off, $bound) = @_;
    $off = 0 unless $off;    # undef: a first write that failed
    my $len = length $_[1];
    while ($off < $len) {
        my ($stop, $t0) = $bound ? ($STOP, Time::HiRes::time()) : ();
        my $n = syswrite $fh, $_[1], $len - $off, $off;
        if (!defined $n) {
            return POSIX::ETIMEDOUT() if $bound && ($!{EAGAIN} || $!{EWOULDBLOCK});
            next if $!{EINTR} || $!{EAGAIN};
            return 0 + $!;
        }
        $off += $n;
        return POSIX::ETIMEDOUT()
            if $bound && $off < $len && $STOP == $stop && Time::HiRes::time() - $t0 >= $bound * 0.9;
    }
    return 0;
}

# _bound_writes($fh, $seconds): a blocking write on connection $fh that can
# put nothing in the socket for $seconds fails with EAGAIN (SO_SNDTIMEO).
sub _bound_writes {
    my ($fh, $seconds) = @_;
    my $sec = int $seconds;
    setsockopt $fh, SOL_SOCKET, SO_SNDTIMEO, pack 'l! l!', $sec, int(($seconds - $sec) * 1_000_000);
    return;
}

# _write_rest($fh, $bytes, $off, $seconds): the rest of $bytes after a first
# write that did not take it all ($off written, undef when it failed), on
# connection $fh, each write bounded by $seconds; 0 or the errno (ETIMEDOUT:
# the client took nothing for $seconds).
sub _write_rest {    ## no critic (RequireArgUnpacking)
    my ($fh, undef, $off, $seconds) = @_;
    return 0 + $! if !defined $off && !$!{EAGAIN} && !$!{EWOULDBLOCK} && !$!{EINTR};
    _bound_writes($fh, $seconds);
    return _write_all($fh, $_[1], $off, $seconds);
}

# _write_response($fh, $head, $data, $seconds): writes the response packet
# whose netstrings before the data are $head: one write of a copy when the
# data is small, else the head, the data where it is, and the end; 0 or the
# errno. $seconds: $fh is a connection, and a client that takes nothing of
# the response for that long is given up (ETIMEDOUT): the one write of a
# small packet does not wait (a packet that fits in the socket's buffer costs
# no more), the writes of a large one are bounded first. Without $seconds
# (fd 4 in stand-alone mode) the writes are not bounded.
sub _write_response {    ## no critic (RequireArgUnpacking)
    my ($fh, $head, undef, $seconds) = @_;
    my $len = length $_[2];
    if ($len <= WRITE_WHOLE) {
        my $pkt = $len ? $head . $len . 'q' . $_[2] . ",0z\n" : $head . "0z\n";
        my $n = $seconds ? send($fh, $pkt, MSG_DONTWAIT) : syswrite($fh, $pkt);
        return 0 if defined $n && $n == length $pkt;
        return $seconds ? _write_rest($fh, $pkt, $n, $seconds) : _write_all($fh, $pkt, $n);
    }
    _bound_writes($fh, $seconds) if $seconds;
    $head .= $len . 'q';
    return _write_all($fh, $head, 0, $seconds) || _write_all($fh, $_[2], 0, $seconds)
        || _write_all($fh, ",0z\n", 0, $seconds);
}

sub _out_fh {
    my $self = shift;
    return $self->{out} if $self->{out};
    my $out = $self->_inherited(4, '>&=');
    $self->{out} = $out;
    return $out;
}

# _answer($req, $code, $text, $data): answers a request (called by
# Pluton::Request::respond and ::fault); $data is written where it is, not
# copied.
sub _answer {    ## no critic (RequireArgUnpacking)
    my ($self, $req, $code, $text) = @_;
    my $data = $code ? \q{} : \$_[4];
    my ($c, $f) = @{$req}{qw(c f)};
    $c ||= $req;    # a request of _serve_fast holds its connection itself (fh)
    @{$req}{qw(answered c s)} = (1, undef, undef);
    $self->{owed} = undef;
    my $id = $f->{b};
    $id = Pluton::Packet::number($id) unless defined $id && $id =~ /\A(?:0|-?[1-9][0-9]{0,17})\z/;
    my $head = Pluton::Packet::response_head($id,
        defined $f->{a} ? $f->{a} : q{}, $self->{service_id}, $code, $text);
    if ($self->{trace} || defined $req->{rec}) {
        my $pkt = $head . (length $$data ? length($$data) . 'q' . $$data . ',' : q{}) . "0z\n";
        $self->_trace('PktOut', $pkt) if $self->{trace};
        $self->{recorder}->write('out', $req->{rec}, $pkt) if defined $req->{rec};
    }
    my ($errno, $conn) = (0, 0);
    if (my $fh = $c->{fh}) {
        $conn = 1;
        $errno = _write_response($fh, $head, $$data, $self->{read_timeout});
        if (!$errno && exists $f->{h}) { $self->{affinity} = $c }    # keepAffinity
        else                           { close $fh }
    }
    elsif ($self->{mode} eq MODE_STANDALONE && !exists $f->{e}) {
        my $out = $self->_out_fh;
        if (!$out) {
            $self->{fault} = Pluton::Fault->new(code => Pluton::Fault::SOCKET_WRITE_FAILED,
                text => 'fd 4 is not open for stand-alone responses; run the service as '
                    . './svc 3<request 4>response');
            $self->{lost_io} = 1;
            return 0;
        }
        local $SIG{PIPE} = 'IGNORE';
        $errno = _write_response($out, $head, $$data);
    }
    my $ok = $errno ? $self->_write_failed($errno, $conn) : 1;
    my $now = Time::HiRes::time();
    my $busy = int(($now - $req->{t}) * 1_000_000);
    $self->{busy_us} += $busy if $busy > 0;
    my $outcome = !$ok   ? Pluton::Stats::OUTCOME_WRITE_ERROR
                : $code  ? Pluton::Stats::OUTCOME_FAULT
                :          Pluton::Stats::OUTCOME_OK;
    $self->{ $code ? 'faults' : 'responses' }++ if $ok;
    $self->{stats}->write_counters($self->{requests}, $self->{responses}, $self->{faults}, $self->{busy_us})
        if $self->{stats};
    if (my $report = $self->{report}) {
        $report->add($outcome, int(($now - (defined $c->{t0} ? $c->{t0} : $req->{t})) * 1_000_000),
            length(defined $f->{k} ? $f->{k} : q{}), length $$data, $req->{k}{function}, $now);
    }
    return $ok;
}

# A response write failed with $errno ($conn: on a connection): a gone
# client (EPIPE, or ECONNRESET on a connection: it closed with part of the
# response unread) counts as answered, as in the original (1); a client that
# took none of its response for request-read-timeout (ETIMEDOUT) is dropped,
# a writeError, and the service goes on (0); anything else stops the
# service, lost IO (0).
sub _write_failed {
    my ($self, $errno, $conn) = @_;
    local $! = $errno;
    return 1 if $!{EPIPE} || ($conn && $!{ECONNRESET});
    if ($!{ETIMEDOUT}) {
        print {*STDERR} "Pluton::Service: dropped a connection: the client took none of its response for "
            . "$self->{read_timeout} s (request-read-timeout)\n" if $self->{mode} eq MODE_ACCEPT;
        return 0;
    }
    $self->{fault} = Pluton::Fault->new(code => Pluton::Fault::SOCKET_WRITE_FAILED,
        text => 'writing the response', errno => $errno);
    $self->{lost_io} = 1;
    $self->{exit_reason} = Pluton::Stats::EXIT_LOST_IO;
    return 0;
}

sub _report {
    my ($self, $outcome, $t0, $rq_bytes, $rs_bytes, $function, $now) = @_;
    my $report = $self->{report} or return;
    $now = Time::HiRes::time() unless defined $now;
    my $dur = defined $t0 ? int(($now - $t0) * 1_000_000) : 0;
    $report->add($outcome, $dur, $rq_bytes, $rs_bytes, $function, $now);
    return;
}

# ---------------------------------------------------------------- the end

sub _terminate {
    my $self = shift;
    return if $self->{finished} || !$self->{initialized};
    return if defined $self->{pid} && $self->{pid} != $$;
    $self->{finished} = 1;
    $self->{stopped} = 1;
    if (my $c = $self->{affinity}) {
        close $c->{fh};
        $self->{affinity} = undef;
    }
    close $_->{fh} for @{ $self->{pending} };
    $self->{pending} = [];
    if ($self->{listen}) {
        close $self->{listen};
        $self->{listen} = undef;
    }
    if ($self->{stats}) {
        $self->_set_state(Pluton::Stats::STATE_STOPPING);
        $self->{stats}->write_exit_reason($self->{exit_reason});
        $self->{stats}->close;
    }
    if (my $report = $self->{report}) {
        # the final record, written even with 0 entries
        do { $report->flush } while $report->ok && $report->count > 0;
        $report->close;
    }
    if ($self->{out}) {
        close $self->{out};
        $self->{out} = undef;
    }
    return 1;
}

sub DESTROY {
    my $self = shift;
    local ($@, $!, $?);
    $self->_terminate;
    return;
}

1;

__END__

=head1 NAME

Pluton::Service - write a Pluton service in Perl

=head1 SYNOPSIS

The handler form:

    use Pluton::Service;

    Pluton::Service->new('echo')->serve(sub {
        my $request = shift;
        my $ms = $request->context('echo.sleepMS');      # undef if absent
        die Pluton::Fault->new(code => 111, text => 'sleep time negative')
            if defined $ms && $ms < 0;
        return $request->data;                            # the response
    });

The loop form:

    my $service = Pluton::Service->new('echo');
    while (my $request = $service->next) {
        $request->respond($request->data);    # or $request->fault($code, $text)
    }
    # the manager stopped the service: clean up here, END blocks run

=head1 DESCRIPTION

A service is a single-threaded process that serves one request at a time.
The first C<next> (or C<serve>) starts it: there is no need to call
C<initialize>. It picks the mode:

=over

=item manager mode

fd 3 is an inherited listening socket, fd 4 a regular file (the stats
segment) and fd 5 a FIFO (the report pipe): the service runs under
C<plutonManager>.

=item accept mode

C<$ENV{plutonAcceptSocket}> names a socket path: the service creates the
socket and serves there (a debugging aid).

=item stand-alone mode

Otherwise: request packets are read from fd 3 and responses written to fd 4,
so C<./svc.pl 3<requests 4>responses> and C<plTest> run the service without a
manager. Without fd 3, starting dies with a L<Pluton::Fault> (code -55) whose
text says what to do.

=back

In manager and accept mode the service never waits on one client: a
connection whose request is incomplete after the first read is kept in a
pending set while other connections are served, and is closed (unanswered) at
its deadline (C<request-read-timeout>, 5 s by default); at most
C<maximum-pending> (64) are kept, the oldest is dropped first. A netstring
whose length prefix exceeds C<maximum-request-size> (64 MiB by default) is
answered at once with fault 3 (C<requestTooLarge>) without reading its body
(in stand-alone mode too, where the loop then ends with that fault, as the
input cannot be resynchronised).
The limits come from the stats segment (F<docs/protocol.md> sections 4 and
8).

Large requests are read into place: after the first read (68 KiB, so that a
64 KiB request already in the socket is served at once), the rest of a
netstring of known length is read straight into a scalar of that size, which
becomes the request's data without a copy; a response with more than 64 KiB
of data is written as its head, the data where it is, and its end, without
a copy. The buffers of large request data are kept for later requests of
the same length (at most 4 and 16 MiB in all, dropped after a second without
a connection), so that the memory is not given back and faulted in again for
every request; a copy of the data that the service's code keeps is its own. Client errors (a connection closed early, a malformed packet) cost only
that connection: a read-error entry in the report (and a line on stderr in
accept mode). The listening socket gets C<SO_RCVTIMEO> = 1 s, so an idle
instance sends its report and notices a stop within a second.

Writing a response never waits on a client without bound either: a client
that takes none of its response for C<request-read-timeout> is dropped (its
connection closed, a write-error entry in the report and a line on stderr in
accept mode, no response counted in the slot) and the instance serves the
next connection. A response of up to 64 KiB of data is written with one
C<send> that does not wait (C<MSG_DONTWAIT>), which takes it whole when it
fits in the socket's buffer; the rest of one that does not, and a larger
response, are written on the blocking connection with C<SO_SNDTIMEO> set to
that time. A client that closes its connection with its response unread
(C<EPIPE>, C<ECONNRESET>) has gone: the response counts as answered, as in the
original.

In manager mode the instance's slot in the stats segment says what it does:
busy from the moment a request is handed to its code (naming the request's
id and client name) until it next waits for a connection, so an instance that
hangs after responding is still accountable; the counters, and the report
records on fd 5, are kept as F<docs/protocol.md> says. When the segment's
C<recorder-prefix> is set, each request and response is recorded to
C<< <prefix>in.<pid>.<NNNNN> >> and C<< <prefix>out.<pid>.<NNNNN> >> (see
L<Pluton::Recorder>).

=head2 Stopping

The manager stops an instance with SIGTERM. The SDK installs a handler in
every mode (without C<SA_RESTART>); the loop ends after the current request
(whose response, if its client takes none of it, waits at most
C<request-read-timeout>): C<next> returns undef and C<serve> returns, so the code after the loop,
destructors and END blocks run. The C<on_stop> hooks run once, just before
that. A service that set its own C<$SIG{TERM}> before the loop starts keeps
it: the SDK calls it after recording the stop. The loop also ends when the
instance reached its C<maximum-requests>, and in stand-alone mode at the end
of the input. When it ends with a fault (a malformed or oversize request in
stand-alone mode, a failed accept, a response that cannot be written), C<next> and
C<serve> die with that L<Pluton::Fault> after the final report.

=head1 METHODS

=head2 new

    my $service = Pluton::Service->new($name);
    my $service = Pluton::Service->new(name => $name);

A service named C<$name>: its responses say C<< <name>:<pid>/0 >>.

=head2 initialize

    $service->initialize;

Starts the service now (optional: the first C<next> or C<serve> does it).
Returns the service; dies with a L<Pluton::Fault> whose text says what is
wrong and what to do. A second call does nothing.

An instance serves one request at a time. In manager mode, when the stats
segment asks for more than one thread per instance (C<maximum-threads>
above 1, F<docs/protocol.md> section 4.1), starting dies with fault -104
(C<shmThreadConfigNotService>) whose text is C<maximum-threads N is not
supported by the Perl SDK: an instance serves one request at a time; set
maximum-threads 1 and raise maximum-processes>, as the original's
C<initialize> refused; uncaught, the fault's line goes to stderr and the
program exits non-zero.

=head2 next

    while (my $request = $service->next) { ... }

Waits for the next request and returns it, a L<Pluton::Request>; undef when
the service should stop. A request of the previous call that was not
answered is answered first with fault 6 (C<serviceException>, "request not
answered by the service"). Dies with a L<Pluton::Fault> when the service
stops with a fault (see L</Stopping>).

=head2 serve

    $service->serve(sub { my $request = shift; ...; return $response });

Serves requests with the handler until the service stops. The handler's
return value is the response (bytes; text with the UTF-8 flag is sent as
UTF-8; undef is empty), unless it answered itself with C<respond> or
C<fault>. If it dies with a L<Pluton::Fault>, that fault is sent. If it dies
with anything else, the request gets fault 6 (C<serviceException>) whose
text is C<< <class>: <message> >> for an object (its C<message> or
C<as_string> method, else its string form) or the message without its
C<at FILE line N.> suffix for a plain C<die>; the whole message goes to
stderr (the manager's log), and the instance goes on serving. Returns when
the service stops; dies as C<next>.

=head2 on_stop

    $service->on_stop(sub { ... });

Adds a hook run once when the loop ends (before C<next> returns undef or
C<serve> returns). A hook that dies is reported on stderr. Returns the
service.

=head2 name

The service's name.

=head2 mode

C<manager>, C<accept> or C<standalone> once started, else undef.

=head2 exit_reason

Why the service stopped, as the stats segment's exit reasons (1
serviceShutdown, 6 maxRequests, ...; 0 while running).

=head2 api_version

The SDK's version.

=head1 ENVIRONMENT

C<plutonSlot> (set by the manager), C<plutonAcceptSocket> (accept mode),
C<plutonPacketTrace> (C<PktIn:>/C<PktOut:> lines on stderr for every
packet).

=head1 SEE ALSO

L<Pluton::Request>, L<Pluton::Fault>, L<Pluton::Client>, and
L<Pluton::Compat::Service> for the original Pluton API.

=cut
