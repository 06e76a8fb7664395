package Pluton::Stats;

# The stats segment on fd 4 and the report pipe on fd 5 (docs/protocol.md
# sections 4 and 5). Written with sysseek + syswrite; no mmap.

use strict;
use warnings;

use Fcntl qw(SEEK_SET);
use Time::HiRes ();

our $VERSION = '0.1.0';

use constant {
    MAGIC        => 'PLSS',
    VERSION_1    => 1,
    HEADER_SIZE  => 64,
    SLOT_SIZE    => 64,

    STATE_STARTING => 0,
    STATE_IDLE     => 1,
    STATE_BUSY     => 2,
    STATE_AFFINITY => 3,
    STATE_STOPPING => 4,

    # exit reasons (table 4.3)
    EXIT_NONE             => 0,
    EXIT_SERVICE_SHUTDOWN => 1,
    EXIT_UNRESPONSIVE     => 2,
    EXIT_ABNORMAL_EXIT    => 3,
    EXIT_LOST_IO          => 4,
    EXIT_RUNAWAY_CHILD    => 5,
    EXIT_MAX_REQUESTS     => 6,
    EXIT_EXCESS_PROCESSES => 7,
    EXIT_IDLE_TIMEOUT     => 8,
    EXIT_ACCEPT_FAILED    => 9,

    # report outcomes
    OUTCOME_READ_ERROR  => 1,
    OUTCOME_WRITE_ERROR => 2,
    OUTCOME_FAULT       => 3,
    OUTCOME_OK          => 4,

    REPORT_VERSION     => 1,
    REPORT_SIZE        => 528,
    REPORT_ENTRIES     => 16,
    REPORT_ENTRY_SIZE  => 32,
};

sub now_us { int(Time::HiRes::time() * 1_000_000) }

# open_segment($fd, $slot): a segment object, or (undef, $why).
sub open_segment {
    my ($class, $fd, $slot) = @_;
    return (undef, 'plutonSlot is not set') unless defined $slot && $slot =~ /^[0-9]+$/;
    my $fh;
    # A private open file description, so that our sysseek offset is not
    # shared with other instances that inherited the same fd 4.
    if (!open($fh, '+<', "/proc/self/fd/$fd")) {
        open($fh, '+<&=', $fd) or return (undef, "cannot open fd $fd: $!");
    }
    binmode $fh;
    my $hdr = '';
    sysseek($fh, 0, SEEK_SET) or return (undef, "seek: $!");
    my $n = sysread($fh, $hdr, HEADER_SIZE);
    return (undef, 'short header') unless defined $n && $n == HEADER_SIZE;
    my ($magic, $ver, $hsize, $ssize, $count, $aff) = unpack 'a4 V V V V V', $hdr;
    return (undef, 'bad magic')          if $magic ne MAGIC;
    return (undef, 'version mismatch')   if $ver != VERSION_1;
    return (undef, 'bad header size')    if $hsize != HEADER_SIZE;
    return (undef, 'bad slot size')      if $ssize != SLOT_SIZE;
    return (undef, 'slot out of range')  if $slot >= $count;
    my $self = bless {
        fh               => $fh,
        slot             => 0 + $slot,
        slot_count       => $count,
        affinity_timeout => $aff,
        base             => $hsize + $slot * $ssize,
        offset           => -1,    # the file offset of fh, -1 if unknown
        ok               => 1,
    }, $class;
    $self->{maximum_requests} = $self->_read32(48);
    return $self;
}

sub affinity_timeout { $_[0]{affinity_timeout} }
sub slot             { $_[0]{slot} }

# Writes $bytes at $off in the slot: one syswrite, and a sysseek first unless
# the file offset is there already.
sub _write {
    my ($self, $off, $bytes) = @_;
    return unless $self->{ok};
    my $fh = $self->{fh};
    $off += $self->{base};
    if ($self->{offset} != $off && !sysseek($fh, $off, SEEK_SET)) {
        $self->{ok} = 0;
        return;
    }
    my $n = syswrite($fh, $bytes);
    if (defined $n && $n == length $bytes) {
        $self->{offset} = $off + $n;
    }
    else {
        $self->{ok} = 0;
    }
    return;
}

sub _read32 {
    my ($self, $off) = @_;
    return 0 unless $self->{ok};
    my $fh = $self->{fh};
    $self->{offset} = -1;
    sysseek($fh, $self->{base} + $off, SEEK_SET) or return 0;
    my $b = '';
    my $n = sysread($fh, $b, 4);
    return 0 unless defined $n && $n == 4;
    $self->{offset} = $self->{base} + $off + 4;
    return unpack 'V', $b;
}

sub write_pid { $_[0]->_write(0, pack 'V', $_[1]) }

# bytes 4-15
sub write_state {
    my ($self, $state, $since) = @_;
    $self->_write(4, pack 'V Q<', $state, $since);
}

# bytes 4-23
sub write_busy {
    my ($self, $since, $requests) = @_;
    $self->_write(4, pack 'V Q< Q<', STATE_BUSY, $since, $requests);
}

# bytes 4-47
sub write_done {
    my ($self, $state, $since, $requests, $responses, $faults, $busy_us) = @_;
    $self->_write(4, pack 'V Q< Q< Q< Q< Q<', $state, $since, $requests, $responses, $faults, $busy_us);
}

sub write_exit_reason { $_[0]->_write(56, pack 'V', $_[1]) }

# The manager writes maximumRequests before it starts the instance: read it once.
sub maximum_requests { $_[0]{maximum_requests} }
sub shutdown_request { $_[0]->_read32(52) }

sub close {
    my $self = shift;
    close($self->{fh}) if $self->{fh};
    $self->{fh} = undef;
    $self->{ok} = 0;
}

package Pluton::Stats::Report;

use strict;
use warnings;

# new($fd, $slot): the fd 5 reporter; undef if fd cannot be opened.
sub new {
    my ($class, $fd, $slot) = @_;
    my $fh;
    open($fh, '>&=', $fd) or return undef;
    binmode $fh;
    return bless {
        fh      => $fh,
        pid     => $$,
        slot    => (defined $slot && $slot =~ /^[0-9]+$/ && $slot <= 0xFFFFFFFE) ? $slot : 0xFFFFFFFF,
        entries => [],
        oldest  => undef,
        ok      => 1,
    }, $class;
}

sub ok      { $_[0]{ok} }
sub count   { scalar @{ $_[0]{entries} } }

# add($outcome, $duration_us, $request_bytes, $response_bytes, $function, $now):
# one entry ($now: the time it finished); the record goes out at 16 entries.
sub add {
    my ($self, $outcome, $dur, $rq, $rs, $func, $now) = @_;
    return unless $self->{ok};
    $dur = $dur > 0xFFFFFFFF ? 0xFFFFFFFF : $dur < 0 ? 0 : $dur;
    $rq = 0xFFFFFFFF if $rq > 0xFFFFFFFF;
    $rs = 0xFFFFFFFF if $rs > 0xFFFFFFFF;
    my $e = $self->{entries};
    push @$e, pack('V V V V a16', $outcome, $dur, $rq, $rs, defined $func ? $func : '');    # a16 cuts to 16 bytes
    $self->{oldest} = defined $now ? $now : Time::HiRes::time() unless defined $self->{oldest};
    $self->flush if @$e >= Pluton::Stats::REPORT_ENTRIES;
}

# Sends the pending entries if the oldest is at least 1 s old: the service
# calls it when it is about to block waiting for a request.
sub flush_if_due {
    my $self = shift;
    $self->flush if defined $self->{oldest} && Time::HiRes::time() - $self->{oldest} >= 1;
}

# Writes one record (even with 0 entries).
sub flush {
    my $self = shift;
    return unless $self->{ok};
    my @e = splice @{ $self->{entries} }, 0, Pluton::Stats::REPORT_ENTRIES;
    my $rec = pack('V V V V', Pluton::Stats::REPORT_VERSION, $self->{pid}, $self->{slot}, scalar @e)
        . join('', @e);
    $rec .= "\0" x (Pluton::Stats::REPORT_SIZE - length $rec);
    my $n;
    {
        $n = syswrite($self->{fh}, $rec);
        redo if !defined $n && $!{EINTR};
    }
    $self->{ok} = 0 unless defined $n && $n == Pluton::Stats::REPORT_SIZE;
    $self->{oldest} = @{ $self->{entries} } ? Time::HiRes::time() : undef;
}

sub close {
    my $self = shift;
    close($self->{fh}) if $self->{fh};
    $self->{fh} = undef;
    $self->{ok} = 0;
}

1;

__END__

=head1 NAME

Pluton::Stats - the fd 4 stats segment and fd 5 report records (internal)

=head1 DESCRIPTION

Used by L<Pluton::Service> in manager mode. The segment is written through a
private open file description (F</proc/self/fd/4>), each update with one
C<syswrite>, after a C<sysseek> unless the file offset is already there;
C<maximumRequests> is read once, at start. The report records go out with one
C<syswrite> each (528 bytes, below PIPE_BUF, so records never interleave). All
integers are little-endian (C<pack 'V'> and C<'QE<lt>'>).

=cut
