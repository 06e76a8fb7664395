package Pluton::Service;

use strict;
use warnings;

use Socket qw(SOL_SOCKET SO_ACCEPTCONN SOCK_STREAM PF_UNIX pack_sockaddr_un MSG_NOSIGNAL);
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
    IDLE_POLL       => 1.0,
};

# Set by the SIGTERM handler (one per process: there is one service per process).
our $STOP = 0;

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
        responses    => 0,
        faults       => 0,
        busy_us      => 0,
        exit_reason  => Pluton::Stats::EXIT_NONE,
        owed         => 0,
        req          => undef,
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
    $SIG{PIPE} = 'IGNORE';
    $STOP = 0;
    my $act = POSIX::SigAction->new(sub { $STOP = 1 }, POSIX::SigSet->new, 0);    # no SA_RESTART
    $act->safe(1);
    POSIX::sigaction(POSIX::SIGTERM(), $act);
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
        $self->_install_signals;
        if ($self->{stats}) {
            $self->{stats}->write_pid($$);
            $self->{stats}->write_state(Pluton::Stats::STATE_IDLE, Pluton::Stats::now_us());
        }
    }
    elsif (defined $ENV{plutonAcceptSocket} && length $ENV{plutonAcceptSocket}) {
        $self->{mode} = MODE_ACCEPT;
        my $path = $ENV{plutonAcceptSocket};
        if (!unlink($path) && !$!{ENOENT}) {
            return $self->_fail(Pluton::Fault::unlinkFailed(), $path, errno => 0 + $!);
        }
        my $l;
        socket($l, PF_UNIX, SOCK_STREAM, 0)
            or return $self->_fail(Pluton::Fault::openAcceptSocketFailed(), $path, errno => 0 + $!);
        my $addr = eval { pack_sockaddr_un($path) };
        return $self->_fail(Pluton::Fault::bindFailed(), "$path: path too long") unless defined $addr;
        bind($l, $addr)
            or return $self->_fail(Pluton::Fault::bindFailed(), $path, errno => 0 + $!);
        listen($l, 20)
            or return $self->_fail(Pluton::Fault::listenFailed(), $path, errno => 0 + $!);
        $self->{listen} = $l;
        $self->_install_signals;
    }
    else {
        $self->{mode} = MODE_STANDALONE;
        return $self->_fail(Pluton::Fault::noFauxSTDIN(), 'fd 3 is not open')
            unless defined _fd_mode(3);
        open(my $in, '<&=', 3)
            or return $self->_fail(Pluton::Fault::noFauxSTDIN(), "fd 3: $!", errno => 0 + $!);
        binmode $in;
        $self->{in}      = $in;
        $self->{decoder} = Pluton::Packet::Decoder->new('Q', keep_raw => $self->{trace});
    }
    $self->{initialized} = 1;
    return 1;
}

# ---------------------------------------------------------------- request loop

sub _now { Time::HiRes::time() }

sub _clear_request {
    my $self = shift;
    $self->{req} = undef;
}

sub get_request {
    my $self = shift;
    return $self->_fail(Pluton::Fault::notInitialized(), 'getRequest before initialize')
        unless $self->{initialized};
    return $self->_fail(Pluton::Fault::getRequestNotNext(), 'a response is still owed')
        if $self->{owed};
    $self->_clear_request;
    return 0 if $self->{stopped} || $self->{terminated};
    $self->{fault} = undef;
    return $self->{mode} eq MODE_STANDALONE ? $self->_get_standalone : $self->_get_socket;
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

# SIGTERM while idle (in accept) or waiting on an affinity connection.
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
    $self->{conn_decoder} = undef;
}

sub _set_state {
    my ($self, $state) = @_;
    $self->{state} = $state;
    $self->{stats}->write_state($state, Pluton::Stats::now_us()) if $self->{stats};
}

sub _go_busy {
    my $self = shift;
    $self->{requests}++;
    $self->{busy_start} = _now();
    $self->{state} = Pluton::Stats::STATE_BUSY;
    $self->{stats}->write_busy(Pluton::Stats::now_us(), $self->{requests}) if $self->{stats};
}

sub _done_stats {
    my ($self, $state) = @_;
    my $now = _now();
    $self->{busy_us} += int(($now - $self->{busy_start}) * 1_000_000) if defined $self->{busy_start};
    $self->{busy_start} = undef;
    $self->{state} = $state;
    $self->{stats}->write_done($state, int($now * 1_000_000), $self->{requests},
        $self->{responses}, $self->{faults}, $self->{busy_us}) if $self->{stats};
}

sub _report {
    my ($self, $outcome, $dur_us, $rq, $rs, $func) = @_;
    $self->{report}->add($outcome, $dur_us, $rq, $rs, $func) if $self->{report};
}

# Waits for a connection on the listening socket. Returns the connection, or
# undef (fault set, or stopping).
sub _accept {
    my $self = shift;
    my $l = $self->{listen};
    while (1) {
        return $self->_stop_idle if $STOP;
        my $timeout = IDLE_POLL;
        if ($self->{report}) {
            $self->{report}->flush_if_due;
            my $d = $self->{report}->due_in;
            $timeout = $d if defined $d && $d < $timeout;
            $timeout = 0.001 if $timeout < 0.001;
        }
        my $rin = '';
        vec($rin, fileno($l), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $timeout);
        if ($n < 0) {
            next if $!{EINTR};
            return $self->_accept_failed;
        }
        next if $n == 0;
        return $self->_stop_idle if $STOP;
        my $conn;
        if (!accept($conn, $l)) {
            next if $!{EINTR} || $!{EAGAIN} || $!{ECONNABORTED} || $!{EWOULDBLOCK};
            return $self->_accept_failed;
        }
        binmode $conn;
        return $conn;
    }
}

sub _accept_failed {
    my $self = shift;
    $self->_fail(Pluton::Fault::acceptFailed(), 'accept() failed', errno => 0 + $!);
    $self->_stop(Pluton::Stats::EXIT_ACCEPT_FAILED) if $self->{mode} eq MODE_MANAGER;
    $self->{stopped} = 1;
    return undef;
}

# Reads one packet from $conn. $timeout (seconds) applies to affinity waits;
# $busy says whether the busy state has been entered already.
# Returns ('ok', $pkt) | ('idle') (closed or timed out before any byte) |
# ('stop') (SIGTERM before any byte) | ('error', $code, $text).
sub _read_packet {
    my ($self, $conn, $timeout, $busy) = @_;
    my $dec = $self->{conn_decoder} ||= Pluton::Packet::Decoder->new('Q', keep_raw => $self->{trace});
    my $got = $dec->pending > 0;
    if ($got && !$busy) { $self->_go_busy; $busy = 1 }
    my $deadline = defined $timeout ? _now() + $timeout : undef;
    while (1) {
        my ($pkt, $err) = $dec->next;
        return ('ok', $pkt) if $pkt;
        return ('error', _decode_fault($err), $err->{text}) if $err;
        if (defined $deadline) {
            return ('stop') if $STOP && !$got;
            my $left = $deadline - _now();
            if ($left <= 0) {
                return $got ? ('error', Pluton::Fault::socketReadFailed(), 'affinity read timeout') : ('idle');
            }
            my $rin = '';
            vec($rin, fileno($conn), 1) = 1;
            my $n = select(my $rout = $rin, undef, undef, $left);
            if ($n < 0) {
                next if $!{EINTR};
                return ('error', Pluton::Fault::socketReadFailed(), "select: $!");
            }
            next if $n == 0;
        }
        my $buf = '';
        my $r = sysread($conn, $buf, READ_SIZE);
        if (!defined $r) {
            next if $!{EINTR} || $!{EAGAIN};
            return ('idle') if !$got && !$busy;
            return ('error', Pluton::Fault::socketReadFailed(), "read: $!");
        }
        if ($r == 0) {
            return ('idle') if !$got && !$busy;
            return ('error', Pluton::Fault::unexpectedEOF(), $got ? 'unexpected EOF in packet' : 'client closed without a request');
        }
        if (!$busy) { $self->_go_busy; $busy = 1 }
        $got = 1;
        $dec->add($buf);
    }
}

sub _decode_fault {
    my $err = shift;
    return $err->{kind} eq 'netstring' ? Pluton::Fault::requestNetStringParseError()
         : $err->{kind} eq 'eof'       ? Pluton::Fault::unexpectedEOF()
         :                               Pluton::Fault::requestDecodeFailed();
}

sub _get_socket {
    my $self = shift;
    my $manager = $self->{mode} eq MODE_MANAGER;
    while (1) {
        return $self->_stop(Pluton::Stats::EXIT_LOST_IO) if $self->{lost_io};
        if ($STOP) {
            $self->_close_conn;
            return $self->_stop($self->_shutdown_reason);
        }
        my ($st, @r);
        if ($self->{conn}) {
            ($st, @r) = $self->_read_packet($self->{conn}, $self->{affinity_timeout}, 0);
            if ($st eq 'idle') {
                $self->_close_conn;
                $self->_set_state(Pluton::Stats::STATE_IDLE);
                next;
            }
            return $self->_stop_idle if $st eq 'stop';
        }
        else {
            if ($manager && $self->{stats}) {
                my $max = $self->{stats}->maximum_requests;
                return $self->_stop(Pluton::Stats::EXIT_MAX_REQUESTS)
                    if $max && $self->{requests} >= $max;
            }
            my $conn = $self->_accept or return 0;
            $self->{conn} = $conn;
            $self->{conn_decoder} = undef;
            $self->_go_busy;
            ($st, @r) = $self->_read_packet($conn, undef, 1);
            $st = 'error' if $st ne 'ok';
            @r = (Pluton::Fault::unexpectedEOF(), 'client closed without a request') if $st eq 'error' && !@r;
        }
        if ($st eq 'ok') {
            $self->_set_request($r[0]);
            return 1;
        }
        # a client error: one readError entry, close, and back to accept
        my $dur = defined $self->{busy_start} ? int((_now() - $self->{busy_start}) * 1_000_000) : 0;
        $self->_close_conn;
        $self->_done_stats(Pluton::Stats::STATE_IDLE);
        $self->_report(Pluton::Stats::OUTCOME_READ_ERROR, $dur, 0, 0, '');
        next if $manager;
        $self->_fail($r[0], $r[1]) unless $r[1] eq 'client closed without a request';
        return $self->_stop;
    }
}

sub _get_standalone {
    my $self = shift;
    my $dec = $self->{decoder};
    my $got = $dec->pending > 0;
    $self->{busy_start} = _now();
    while (1) {
        my ($pkt, $err) = $dec->next;
        if ($pkt) {
            $self->{requests}++;
            $self->_set_request($pkt);
            return 1;
        }
        if ($err) {
            $self->_fail(_decode_fault($err), $err->{text});
            return $self->_stop;
        }
        my $buf = '';
        my $r = sysread($self->{in}, $buf, READ_SIZE);
        if (!defined $r) {
            next if $!{EINTR};
            if ($!{EAGAIN}) {
                my $rin = '';
                vec($rin, fileno($self->{in}), 1) = 1;
                select(my $rout = $rin, undef, undef, undef);
                next;
            }
            $self->_fail(Pluton::Fault::socketReadFailed(), "read fd 3: $!", errno => 0 + $!);
            return $self->_stop;
        }
        if ($r == 0) {
            my $e = $dec->eof;
            $self->_fail(Pluton::Fault::unexpectedEOF(), $e->{text}) if $e;
            return $self->_stop;
        }
        $dec->add($buf);
    }
}

sub _set_request {
    my ($self, $pkt) = @_;
    my $f = Pluton::Packet::request_fields($pkt->{fields});
    my @p = split /\./, $f->{service_key}, -1;
    $f->{application}   = defined $p[0] ? $p[0] : '';
    $f->{function}      = defined $p[1] ? $p[1] : '';
    $f->{version}       = Pluton::Packet::number($p[2]);
    $f->{serialization} = defined $p[3] ? $p[3] : '';
    $self->{req}  = $f;
    $self->{owed} = 1;
    $self->_trace('PktIn', $pkt->{raw}) if $self->{trace};
    if ($f->{no_wait} && $self->{mode} ne MODE_STANDALONE) {
        $self->_close_conn;
    }
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

sub _write_all {
    my ($self, $fh, $bytes, $is_socket) = @_;
    my $off = 0;
    my $len = length $bytes;
    while ($off < $len) {
        my $n;
        if ($is_socket) {
            $n = send($fh, substr($bytes, $off, 1 << 20), MSG_NOSIGNAL);
        }
        else {
            $n = syswrite($fh, $bytes, $len - $off, $off);
        }
        if (!defined $n) {
            next if $!{EINTR};
            if ($!{EAGAIN}) {
                my $win = '';
                vec($win, fileno($fh), 1) = 1;
                select(undef, my $wout = $win, undef, undef);
                next;
            }
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
    my $standalone = $self->{mode} eq MODE_STANDALONE;
    my $outcome = $code ? Pluton::Stats::OUTCOME_FAULT : Pluton::Stats::OUTCOME_OK;
    my $ok = 1;
    my $epipe = 0;

    if (!$req->{no_wait}) {
        my $pkt = Pluton::Packet::encode_response(
            id => $req->{id}, client_name => $req->{client_name},
            service_name => $self->{service_id},
            fault_code => $code, fault_text => $text, data => $data,
        );
        my $errno;
        if ($standalone) {
            if (!$self->{out}) {
                open(my $out, '>&=', 4) or do { $errno = 0 + $! };
                if ($out) { binmode $out; $self->{out} = $out }
            }
            $errno = $self->_write_all($self->{out}, $pkt, 0) if $self->{out};
        }
        elsif ($self->{conn}) {
            $errno = $self->_write_all($self->{conn}, $pkt, 1);
        }
        $self->_trace('PktOut', $pkt) if $self->{trace};
        if ($errno) {
            local $! = $errno;
            if ($!{EPIPE} || $!{ECONNRESET}) {
                $epipe = 1;    # the client has gone: counts as success
            }
            else {
                $ok = 0;
                $self->{lost_io} = 1;
                $outcome = Pluton::Stats::OUTCOME_WRITE_ERROR;
                $self->_fail(Pluton::Fault::socketWriteFailed(), 'response write failed', errno => $errno);
            }
        }
    }
    if ($ok) {
        if ($code) { $self->{faults}++ } else { $self->{responses}++ }
    }
    my $state = Pluton::Stats::STATE_IDLE;
    if (!$standalone) {
        if ($ok && !$epipe && $self->{conn} && $req->{keep_affinity} && !$req->{no_wait}) {
            $state = Pluton::Stats::STATE_AFFINITY;
        }
        else {
            $self->_close_conn;
        }
    }
    my $dur = defined $self->{busy_start} ? int((_now() - $self->{busy_start}) * 1_000_000) : 0;
    $self->_done_stats($state);
    $self->_report($outcome, $dur, length($req->{data}), length($data), $req->{function});
    return $ok ? 1 : 0;
}

# ---------------------------------------------------------------- accessors

sub _r {
    my ($self, $k, $default) = @_;
    return $default unless $self->{req};
    return $self->{req}{$k};
}

sub service_key   { $_[0]->_r('service_key', '') }
sub application   { $_[0]->_r('application', '') }
sub function      { $_[0]->_r('function', '') }
sub version       { $_[0]->_r('version', 0) }
sub serialization { $_[0]->_r('serialization', '') }
sub client_name   { $_[0]->_r('client_name', '') }
sub request_data  { $_[0]->_r('data', '') }
sub request_id    { $_[0]->_r('id', 0) }
sub timeout_ms    { $_[0]->_r('timeout_ms', 0) }
sub no_wait       { $_[0]->_r('no_wait', 0) }
sub no_remote     { $_[0]->_r('no_remote', 0) }
sub no_retry      { $_[0]->_r('no_retry', 0) }
sub keep_affinity { $_[0]->_r('keep_affinity', 0) }
sub need_affinity { $_[0]->_r('need_affinity', 0) }

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
    my ($self, $key) = @_;
    my $req = $self->{req} or return undef;
    return undef unless defined $req->{context};
    if (!$req->{ctx}) {
        my $ctx = eval { Pluton::Packet::decode_context($req->{context}) };
        if (!$ctx) {
            (my $e = $@) =~ s/\n\z//;
            $self->_fail(Pluton::Fault::contextFormatError(), $e);
            return undef;
        }
        $req->{ctx} = $ctx;
    }
    return $req->{ctx}{$key};
}

sub context_keys {
    my $self = shift;
    $self->context('');
    my $req = $self->{req};
    return () unless $req && $req->{ctx};
    return sort keys %{ $req->{ctx} };
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

A SIGTERM while the service waits in C<accept> (or on an affinity
connection) makes it send its final report and C<exit 0> at once (pass
C<< exit_on_stop => 0 >> to C<new> to get a false C<get_request> instead).
While busy, the request is finished first and the next C<get_request>
returns false.

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
