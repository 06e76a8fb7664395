package Pluton::Service;

use strict;
use warnings;

use Socket qw(SOL_SOCKET SO_ACCEPTCONN SOCK_STREAM PF_UNIX pack_sockaddr_un);
use POSIX ();
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK S_ISSOCK S_ISREG S_ISFIFO);
use Time::HiRes ();

use Pluton::Fault;
use Pluton::Packet;
use Pluton::ServiceKey;
use Pluton::Stats;

our $VERSION = '0.1.0';

use constant {
    MODE_MANAGER    => 'manager',
    MODE_ACCEPT     => 'accept',
    MODE_STANDALONE => 'standalone',
    READ_SIZE       => 65536,
    DEFAULT_AFFINITY_TIMEOUT => 60,
};

# The SIGTERM handler (manager mode) sets $STOP. While the service waits
# (idle in accept, or on an affinity connection) $WAIT_FD holds the fd it
# waits on, and the handler closes it: a signal that comes just before the
# blocking call then makes the call fail at once instead of blocking, and a
# signal during the call interrupts it (EINTR, no SA_RESTART).
our $STOP = 0;
our $WAIT_FD;

sub _on_term {
    $STOP = 1;
    if (defined $WAIT_FD) {
        POSIX::close($WAIT_FD);
        $WAIT_FD = undef;
    }
}

sub new {
    my $class = shift;
    my %o = @_ == 1 ? (name => $_[0]) : @_;
    my $self = bless {
        name         => defined $o{name} ? "$o{name}" : '',
        exit_on_stop => exists $o{exit_on_stop} ? ($o{exit_on_stop} ? 1 : 0) : 1,
        initialized  => 0,
        terminated   => 0,
        fault        => undef,
        mode         => undef,
        requests     => 0,
        served       => 0,
        responses    => 0,
        faults       => 0,
        busy_us      => 0,
        exit_reason  => Pluton::Stats::EXIT_NONE,
        owed         => 0,
        req          => undef,     # the current request's fields (type => payload)
        key          => "\0",      # the last request's key, split in key_parts
        key_parts    => [],
        max_requests => 0,
        stopped      => 0,
    }, $class;
    return $self;
}

sub api_version { $Pluton::Service::VERSION }

sub name { $_[0]{name} }
sub mode { $_[0]{mode} }

# ---------------------------------------------------------------- faults

sub has_fault  { defined $_[0]{fault} ? 1 : 0 }
sub fault      { $_[0]{fault} }
sub fault_code { defined $_[0]{fault} ? $_[0]{fault}->code : 0 }
sub fault_text { defined $_[0]{fault} ? $_[0]{fault}->text : '' }

sub _fail {
    my ($self, $code, $text, %opt) = @_;
    $self->{fault} = Pluton::Fault->new($code, $text, %opt);
    return 0;
}

# ---------------------------------------------------------------- setup

sub _fd_mode {
    my $fd = shift;
    my @st = POSIX::fstat($fd);
    return @st ? $st[2] : undef;
}

# Manager mode: fd 3 a listening socket, fd 4 a regular file, fd 5 a FIFO.
sub _manager_fds {
    my $self = shift;
    my $m3 = _fd_mode(3);
    return 0 unless defined $m3 && S_ISSOCK($m3);
    my $m4 = _fd_mode(4);
    return 0 unless defined $m4 && S_ISREG($m4);
    my $m5 = _fd_mode(5);
    return 0 unless defined $m5 && S_ISFIFO($m5);
    open(my $l, '+<&=', 3) or return 0;
    my $v = getsockopt($l, SOL_SOCKET, SO_ACCEPTCONN);
    if (!defined $v || unpack('i', $v) != 1) {
        # Do not let the handle close fd 3 when it goes out of scope.
        $self->{_keep_fd3} = $l;
        return 0;
    }
    $self->{listen} = $l;
    return 1;
}

sub _install_signals {
    my $self = shift;
    $STOP = 0;
    my $act = POSIX::SigAction->new(\&_on_term, POSIX::SigSet->new, 0);    # flags 0: no SA_RESTART
    $act->safe(1);
    POSIX::sigaction(POSIX::SIGTERM(), $act)
        or print STDERR "Pluton::Service: cannot install the SIGTERM handler: $!\n";
    $self->{signals} = 1;
}

sub initialize {
    my $self = shift;
    return $self->_fail(Pluton::Fault::alreadyInitialized(), 'initialize called twice')
        if $self->{initialized};
    $self->{fault} = undef;
    $self->{pid}   = $$;
    $self->{trace} = exists $ENV{plutonPacketTrace} ? 1 : 0;
    $self->{service_id} = "$self->{name}:$$/0";
    $self->{affinity_timeout} = DEFAULT_AFFINITY_TIMEOUT;

    if ($self->_manager_fds) {
        $self->{mode} = MODE_MANAGER;
        my $flags = fcntl($self->{listen}, F_GETFL, 0);
        fcntl($self->{listen}, F_SETFL, $flags & ~O_NONBLOCK) if defined $flags && ($flags & O_NONBLOCK);
        my $slot = $ENV{plutonSlot};
        my ($stats, $why) = Pluton::Stats->open_segment(4, $slot);
        if ($stats) {
            $self->{stats} = $stats;
            $self->{affinity_timeout} = $stats->affinity_timeout || DEFAULT_AFFINITY_TIMEOUT;
        }
        else {
            print STDERR "Pluton::Service: running without stats: $why\n";
        }
        $self->{report} = Pluton::Stats::Report->new(5, $slot);
        $SIG{PIPE} = 'IGNORE';    # as the manager's children: a gone client is EPIPE
        $self->_install_signals;
        if ($self->{stats}) {
            $self->{max_requests} = $self->{stats}->maximum_requests;
            $self->{stats}->write_pid($$);
            $self->{stats}->write_state(Pluton::Stats::STATE_IDLE, Pluton::Stats::now_us());
        }
    }
    elsif (defined $ENV{plutonAcceptSocket} && length $ENV{plutonAcceptSocket}) {
        $self->{mode} = MODE_ACCEPT;
        my $path = $ENV{plutonAcceptSocket};
        my $failed = sub {
            my ($step) = @_;
            return $self->_fail(Pluton::Fault::openAcceptSocketFailed(), "$step $path", errno => 0 + $!);
        };
        unlink($path) or $!{ENOENT} or return $failed->('unlink');
        my $l;
        socket($l, PF_UNIX, SOCK_STREAM, 0) or return $failed->('socket');
        my $addr = eval { pack_sockaddr_un($path) };
        if (!defined $addr || length($path) > 107) {
            $! = POSIX::ENAMETOOLONG();
            return $failed->('bind');
        }
        bind($l, $addr)  or return $failed->('bind');
        listen($l, 20)   or return $failed->('listen');
        $self->{listen} = $l;
        $SIG{PIPE} = 'IGNORE';
    }
    else {
        $self->{mode} = MODE_STANDALONE;
        return $self->_fail(Pluton::Fault::noFauxSTDIN(), 'fd 3 is not open')
            unless defined _fd_mode(3);
        open(my $in, '<&=', 3)
            or return $self->_fail(Pluton::Fault::noFauxSTDIN(), "fd 3: $!", errno => 0 + $!);
        binmode $in;
        $self->{in} = $in;
    }
    $self->{decoder} = Pluton::Packet::Decoder->new('Q', keep_raw => $self->{trace}, check_key => 1);
    $self->{initialized} = 1;
    return 1;
}

# ---------------------------------------------------------------- request loop

sub get_request {
    my $self = shift;
    return $self->_fail(Pluton::Fault::notInitialized(), 'getRequest before initialize')
        unless $self->{initialized};
    return $self->_fail(Pluton::Fault::getRequestNotNext(), 'getRequest called before the previous request was answered')
        if $self->{owed};
    $self->{req} = undef;
    $self->{ctx} = undef;
    return 0 if $self->{stopped} || $self->{terminated};
    $self->{fault} = undef;
    my $ok = $self->{mode} eq MODE_STANDALONE ? $self->_get_standalone : $self->_get_socket;
    return 0 unless $ok;
    $self->{served}++;
    return 1;
}

sub _stop {
    my ($self, $reason) = @_;
    $self->{exit_reason} = $reason if defined $reason;
    $self->{stopped} = 1;
    return 0;
}

sub _shutdown_reason {
    my $self = shift;
    my $r = $self->{stats} ? $self->{stats}->shutdown_request : 0;
    return $r || Pluton::Stats::EXIT_SERVICE_SHUTDOWN;
}

# SIGTERM while idle in accept or waiting on an affinity connection: the
# final report, state stopping, exit 0 (or a false get_request with
# exit_on_stop => 0).
sub _stop_idle {
    my $self = shift;
    $self->_close_conn;
    $self->_stop($self->_shutdown_reason);
    if ($self->{exit_on_stop}) {
        $self->terminate;
        exit 0;
    }
    return 0;
}

sub _close_conn {
    my $self = shift;
    if ($self->{conn}) {
        close($self->{conn});
        $self->{conn} = undef;
    }
}

sub _set_state {
    my ($self, $state) = @_;
    $self->{state} = $state;
    $self->{stats}->write_state($state, Pluton::Stats::now_us()) if $self->{stats};
}

# A request starts: busy, since = now, requests + 1 (one write).
sub _go_busy {
    my $self = shift;
    my $now = $self->{busy_start} = Time::HiRes::time();
    $self->{requests}++;
    $self->{state} = Pluton::Stats::STATE_BUSY;
    $self->{stats}->write_busy(int($now * 1_000_000), $self->{requests}) if $self->{stats};
}

# A request is finished: counters, busy time, state (one write), report entry.
sub _done {
    my ($self, $outcome, $rq_bytes, $rs_bytes, $function) = @_;
    my $now = Time::HiRes::time();
    my $dur = defined $self->{busy_start} ? int(($now - $self->{busy_start}) * 1_000_000) : 0;
    $dur = 0 if $dur < 0;
    $self->{busy_us} += $dur;
    $self->{busy_start} = undef;
    $self->{responses}++ if $outcome == Pluton::Stats::OUTCOME_OK;
    $self->{faults}++    if $outcome == Pluton::Stats::OUTCOME_FAULT;
    my $state = $self->{conn} ? Pluton::Stats::STATE_AFFINITY : Pluton::Stats::STATE_IDLE;
    $self->{state} = $state;
    $self->{stats}->write_done($state, int($now * 1_000_000), $self->{requests},
        $self->{responses}, $self->{faults}, $self->{busy_us}) if $self->{stats};
    $self->{report}->add($outcome, $dur, $rq_bytes, $rs_bytes, $function, $now) if $self->{report};
}

# Waits in accept. Returns the connection, or undef (stopping or failed).
sub _accept {
    my $self = shift;
    my $l = $self->{listen};
    $self->{report}->flush_if_due if $self->{report};
    while (1) {
        $WAIT_FD = fileno($l) if $self->{signals};
        if ($STOP && $self->{signals}) {
            $WAIT_FD = undef;
            return $self->_stop_idle;
        }
        my $conn;
        my $ok = accept($conn, $l);
        my $errno = 0 + $!;
        $WAIT_FD = undef;
        return $conn if $ok;
        return $self->_stop_idle if $STOP && $self->{signals};
        local $! = $errno;
        next if $!{EINTR} || $!{ECONNABORTED} || $!{EAGAIN};
        $self->_fail(Pluton::Fault::acceptFailed(), 'accept on the service socket', errno => $errno);
        $self->_stop($self->{mode} eq MODE_MANAGER ? Pluton::Stats::EXIT_ACCEPT_FAILED : undef);
        return undef;
    }
}

# Waits for the first bytes of the next request on the affinity connection,
# at most the affinity timeout. 1: bytes arrived; 0: timeout or client close;
# 'stop': SIGTERM.
sub _affinity_wait {
    my $self = shift;
    my $conn = $self->{conn};
    my $dec  = $self->{decoder};
    $self->{report}->flush_if_due if $self->{report};
    my $deadline = Time::HiRes::time() + $self->{affinity_timeout};
    while (1) {
        $WAIT_FD = fileno($conn) if $self->{signals};
        if ($STOP && $self->{signals}) {
            $WAIT_FD = undef;
            return 'stop';
        }
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) {
            $WAIT_FD = undef;
            return 0;
        }
        my $rin = '';
        vec($rin, fileno($conn), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $left);
        my $errno = 0 + $!;
        $WAIT_FD = undef;
        return 'stop' if $STOP && $self->{signals};
        if ($n < 0) {
            local $! = $errno;
            next if $!{EINTR};
            return 0;
        }
        next if $n == 0;
        my $r = $dec->fill($conn, READ_SIZE);
        if (!defined $r) {
            next if $!{EINTR} || $!{EAGAIN};
            return 0;
        }
        return $r > 0 ? 1 : 0;
    }
}

# Reads the rest of a request packet. Returns ('ok', $packet) | ('eof') (the
# client sent nothing) | ('error', $code, $text).
sub _read_request {
    my ($self, $fh, $dec) = @_;
    my $buffered = $dec->pending;    # not on a fresh connection: read first
    while (1) {
        if ($buffered) {
            my ($pkt, $err) = $dec->next;
            return ('ok', $pkt) if $pkt;
            return ('error', Pluton::Fault::requestNetStringParseError(), $err->{text})
                if $err && $err->{kind} eq 'netstring';
            return ('error', Pluton::Fault::requestDecodeFailed(), $err->{text}) if $err;
        }
        my $r = $dec->fill($fh, READ_SIZE);
        if (!defined $r) {
            next if $!{EINTR} || $!{EAGAIN};
            return ('error', Pluton::Fault::socketReadFailed(), "reading a request: $!");
        }
        if ($r == 0) {
            my $e = $dec->eof or return ('eof');
            return ('error', Pluton::Fault::requestDecodeFailed(), $e->{text});
        }
        $buffered = 1;
    }
}

sub _get_socket {
    my $self = shift;
    my $manager = $self->{mode} eq MODE_MANAGER;
    my $dec = $self->{decoder};
    while (1) {
        return $self->_stop(Pluton::Stats::EXIT_LOST_IO) if $self->{lost_io};
        if ($STOP && $self->{signals}) {
            $self->_close_conn;
            return $self->_stop($self->_shutdown_reason);
        }
        my $fresh = !$self->{conn};
        if ($fresh) {
            my $max = $self->{max_requests};
            return $self->_stop(Pluton::Stats::EXIT_MAX_REQUESTS) if $max && $self->{served} >= $max;
            $self->{conn} = $self->_accept or return 0;
            $dec->reset;
        }
        elsif (!$dec->pending) {
            my $w = $self->_affinity_wait;
            return $self->_stop_idle if $w eq 'stop';
            if (!$w) {
                $self->_close_conn;
                $self->_set_state(Pluton::Stats::STATE_IDLE);
                next;
            }
        }
        $self->_go_busy;
        my ($st, $pkt, $text) = $self->_read_request($self->{conn}, $dec);
        if ($st eq 'ok') {
            $self->_set_request($pkt);
            return 1;
        }
        $self->_close_conn;
        if ($manager) {
            # client errors are hidden: one readError entry, back to accept
            $self->_done(Pluton::Stats::OUTCOME_READ_ERROR, 0, 0, '');
            next;
        }
        $self->{busy_start} = undef;
        return $self->_stop if $st eq 'eof' && $fresh;    # as the original: a client that sends nothing
        $self->_fail($pkt || Pluton::Fault::requestDecodeFailed(), $text || 'unexpected EOF in packet');
        return $self->_stop;
    }
}

sub _get_standalone {
    my $self = shift;
    $self->{busy_start} = Time::HiRes::time();
    my ($st, $code, $text) = $self->_read_request($self->{in}, $self->{decoder});
    if ($st eq 'ok') {
        $self->{requests}++;
        $self->_set_request($code);
        return 1;
    }
    $self->_fail($code, $text) if $st eq 'error';
    return $self->_stop;
}

# The request is its packet's fields (type => payload); the accessors below
# read them.
sub _set_request {
    my ($self, $pkt) = @_;
    my $f = $pkt->{fields};
    $self->{req}  = $f;
    $self->{owed} = 1;
    my $key = defined $f->{c} ? $f->{c} : '';
    if ($key ne $self->{key}) {
        my @p = split /\./, $key, -1;
        $self->{key} = $key;
        $self->{key_parts} = [ map { defined $_ ? $_ : '' } @p[0 .. 3] ];
        $self->{key_parts}[2] = Pluton::Packet::number($p[2]);
    }
    $self->_trace('PktIn', $pkt->{raw}) if $self->{trace};
    $self->_close_conn if exists $f->{e} && $self->{mode} ne MODE_STANDALONE;    # noWait
}

sub _trace {
    my ($self, $what, $bytes) = @_;
    return unless defined $bytes;
    my $line = "$what: $bytes";
    $line .= "\n" unless $line =~ /\n\z/;
    print STDERR $line;
}

# ---------------------------------------------------------------- responses

sub send_response {
    my ($self, $data) = @_;
    return $self->_fail(Pluton::Fault::notInitialized(), 'sendResponse before initialize')
        unless $self->{initialized};
    return $self->_fail(Pluton::Fault::sendResponseNotNext(), 'no request to respond to')
        unless $self->{owed};
    $data = '' unless defined $data;
    return $self->_finish(0, '', $data);
}

sub send_fault {
    my ($self, $code, $text) = @_;
    return $self->_fail(Pluton::Fault::notInitialized(), 'sendFault before initialize')
        unless $self->{initialized};
    return $self->_fail(Pluton::Fault::sendResponseNotNext(), 'no request to respond to')
        unless $self->{owed};
    $code = 0 unless defined $code;
    $code = int($code);
    $text = '' unless defined $text;
    return $self->_finish($code, $text, '');
}

# Writes all of $bytes; returns 0, or the errno of the failed write.
sub _write_all {
    my ($self, $fh, $bytes) = @_;
    my $off = 0;
    my $len = length $bytes;
    while ($off < $len) {
        my $n = syswrite($fh, $bytes, $len - $off, $off);
        if (!defined $n) {
            next if $!{EINTR};
            return 0 + $!;
        }
        $off += $n;
    }
    return 0;
}

sub _finish {
    my ($self, $code, $text, $data) = @_;
    my $req = $self->{req};
    $self->{owed} = 0;
    my $outcome  = $code ? Pluton::Stats::OUTCOME_FAULT : Pluton::Stats::OUTCOME_OK;
    my $rq_bytes = defined $req->{k} ? length $req->{k} : 0;
    my $function = $self->{key_parts}[1];
    $data = '' if $code;
    if (exists $req->{e}) {
        # noWait: the connection was closed when the request was read (stand-alone
        # mode writes nothing): only the statistics remain
        $self->_done($outcome, $rq_bytes, 0, $function);
        return 1;
    }
    my $id = $req->{b};
    $id = Pluton::Packet::number($id) unless defined $id && $id =~ /\A(?:0|[1-9][0-9]{0,17})\z/;
    my $pkt = Pluton::Packet::response_packet($id, defined $req->{a} ? $req->{a} : '',
        $self->{service_id}, $code, $text, $data);
    $self->_trace('PktOut', $pkt) if $self->{trace};
    my $errno;
    if ($self->{mode} eq MODE_STANDALONE) {
        if (!$self->{out} && defined _fd_mode(4) && open(my $out, '>&=', 4)) {
            binmode $out;
            $self->{out} = $out;
        }
        if (!$self->{out}) {
            $self->_fail(Pluton::Fault::socketWriteFailed(), 'fd 4 is not open for stand-alone responses');
            $self->{lost_io} = 1;
            $self->_stop;
            return 0;
        }
        local $SIG{PIPE} = 'IGNORE';
        $errno = $self->_write_all($self->{out}, $pkt);
    }
    else {
        $errno = $self->_write_all($self->{conn}, $pkt);
    }
    if ($errno) {
        local $! = $errno;
        if ($!{EPIPE}) {
            # the client has gone: as the original, the response counts as sent
            $self->_close_conn;
        }
        else {
            $self->_close_conn;
            $self->_done(Pluton::Stats::OUTCOME_WRITE_ERROR, $rq_bytes, 0, $function);
            $self->_fail(Pluton::Fault::socketWriteFailed(), 'writing the response', errno => $errno);
            $self->{lost_io} = 1;
            $self->_stop(Pluton::Stats::EXIT_LOST_IO);
            return 0;
        }
    }
    $self->_close_conn if $self->{mode} ne MODE_STANDALONE && !exists $req->{h};    # not keepAffinity
    $self->_done($outcome, $rq_bytes, length $data, $function);
    return 1;
}

# ---------------------------------------------------------------- accessors

# The current request's field of type $t, or $default without a request.
sub _field {
    my ($self, $t, $default) = @_;
    my $req = $self->{req} or return $default;
    return defined $req->{$t} ? $req->{$t} : $default;
}

# A part of the current request's key: 0 application, 1 function, 2 version, 3 serialization.
sub _key_part { $_[0]{req} ? $_[0]{key_parts}[ $_[1] ] : $_[2] }

sub service_key   { $_[0]->_field('c', '') }
sub application   { $_[0]->_key_part(0, '') }
sub function      { $_[0]->_key_part(1, '') }
sub version       { $_[0]->_key_part(2, 0) }
sub serialization { $_[0]->_key_part(3, '') }
sub client_name   { $_[0]->_field('a', '') }
sub request_id    { Pluton::Packet::number($_[0]->_field('b', 0)) }
sub timeout_ms    { Pluton::Packet::number($_[0]->_field('l', 0)) }
sub no_wait       { $_[0]{req} && exists $_[0]{req}{e} ? 1 : 0 }
sub no_remote     { $_[0]{req} && exists $_[0]{req}{f} ? 1 : 0 }
sub no_retry      { $_[0]{req} && exists $_[0]{req}{g} ? 1 : 0 }
sub keep_affinity { $_[0]{req} && exists $_[0]{req}{h} ? 1 : 0 }
sub need_affinity { $_[0]{req} && exists $_[0]{req}{i} ? 1 : 0 }

sub request_data {
    my $req = $_[0]{req};
    return $req && defined $req->{k} ? $req->{k} : '';
}

# The serialization's char code ('r' for raw, '?' if unknown).
sub serialization_code {
    my $s = $_[0]->serialization;
    return exists $Pluton::ServiceKey::SERIALIZATION_CODE{$s} ? $Pluton::ServiceKey::SERIALIZATION_CODE{$s} : '?';
}

sub has_file_descriptor { 0 }
sub file_descriptor     { -1 }

# context($key): the value, or undef if absent (or if the context is malformed,
# in which case has_fault is true with contextFormatError).
sub context {
    my $req = $_[0]{req};
    return undef unless $req && defined $req->{j};
    my ($self, $key) = @_;
    my $ctx = $self->{ctx};
    if (!$ctx) {
        $ctx = eval { Pluton::Packet::decode_context($req->{j}) };
        if (!$ctx) {
            (my $e = $@) =~ s/\n\z//;
            $self->_fail(Pluton::Fault::contextFormatError(), $e);
            return undef;
        }
        $self->{ctx} = $ctx;
    }
    return $ctx->{$key};
}

sub context_keys {
    my $self = shift;
    $self->context('');
    return () unless $self->{ctx};
    return sort keys %{ $self->{ctx} };
}

# ---------------------------------------------------------------- the end

sub exit_reason { $_[0]{exit_reason} }

sub terminate {
    my $self = shift;
    return if $self->{terminated} || !$self->{initialized};
    return if defined $self->{pid} && $self->{pid} != $$;
    $self->{terminated} = 1;
    $self->{stopped} = 1;
    $self->_close_conn;
    if ($self->{listen}) {
        close($self->{listen});
        $self->{listen} = undef;
    }
    if ($self->{stats}) {
        $self->{stats}->write_state(Pluton::Stats::STATE_STOPPING, Pluton::Stats::now_us());
        $self->{stats}->write_exit_reason($self->{exit_reason});
        $self->{stats}->close;
    }
    if ($self->{report}) {
        # the final record, written even with 0 entries
        do { $self->{report}->flush } while $self->{report}->ok && $self->{report}->count > 0;
        $self->{report}->close;
    }
    if ($self->{out}) {
        close($self->{out});
        $self->{out} = undef;
    }
    return 1;
}

sub DESTROY {
    my $self = shift;
    local ($@, $!, $?);
    $self->terminate;
}

1;

__END__

=head1 NAME

Pluton::Service - write a Pluton service in Perl

=head1 SYNOPSIS

    use Pluton::Service;

    my $svc = Pluton::Service->new('echo');     # or ->new(name => 'echo')
    $svc->initialize or die $svc->fault->message;
    while ($svc->get_request) {
        my $ms = $svc->context('echo.sleepMS');   # undef if absent
        if (defined $ms && $ms < 0) {
            $svc->send_fault(111, 'sleep time negative');
            next;
        }
        $svc->send_response($svc->request_data);
    }
    $svc->terminate;
    exit($svc->has_fault ? 41 : 0);

=head1 DESCRIPTION

C<initialize> picks the mode. B<Manager mode> when fd 3 is a listening
socket, fd 4 a regular file (the stats segment) and fd 5 a FIFO (the report
pipe); B<accept mode> when C<plutonAcceptSocket> names a socket path to
create; otherwise B<stand-alone mode>, reading request packets from fd 3 and
writing responses to fd 4 (C<< ./svc.pl 3<requests 4>responses >>).

C<get_request> blocks until a request arrives and returns false when the
service should stop (call C<terminate> and exit): the manager's SIGTERM, the
maximum-requests limit, end of input in stand-alone mode, or a fault.

In manager mode a SIGTERM while the service waits in C<accept> (or on an
affinity connection) makes it send its final report, mark its slot
stopping with the exit reason the manager asked for, and C<exit 0> at once
(pass C<< exit_on_stop => 0 >> to C<new> to get a false C<get_request>
instead). While busy, the request is finished first and the next
C<get_request> returns false. The handler is installed with
C<POSIX::sigaction> without C<SA_RESTART>; the other modes keep the default
SIGTERM action.

In manager mode client errors (a connection closed early, a malformed
packet) are hidden: a readError report entry, and back to C<accept>. In the
other modes C<get_request> returns false with the fault
C<requestNetStringParseError> (-58) or C<requestDecodeFailed> (-57) and the
decoder's message.

=head1 METHODS

C<new>, C<initialize>, C<get_request>, C<send_response($bytes)>,
C<send_fault($code, $text)> (codes up to 10 are reserved, use your own above
10), C<terminate>, C<has_fault>, C<fault> (a L<Pluton::Fault> or undef).

For the current request: C<service_key>, C<application>, C<function>,
C<version>, C<serialization>, C<serialization_code>, C<client_name>,
C<request_data>, C<context($key)>, C<context_keys>, C<request_id>,
C<timeout_ms>, C<no_wait>, C<keep_affinity>.

=head1 ENVIRONMENT

C<plutonSlot> (set by the manager), C<plutonAcceptSocket>,
C<plutonPacketTrace> (C<PktIn:>/C<PktOut:> lines on stderr).

=cut
