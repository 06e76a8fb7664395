package Pluton::Stats;

# The stats segment on fd 4 (docs/protocol.md section 4): the header the
# manager writes, and this instance's slot. Mapped with File::Map when that
# module is installed (plain memory stores, no system call per update);
# otherwise written with sysseek + syswrite through a private open file
# description of fd 4.

use strict;
use warnings;

use Fcntl qw(SEEK_SET);
use Time::HiRes ();

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    MAGIC => 'PLSS',

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

    NOT_RECORDING   => 0xFFFF_FFFF,
    CLIENT_NAME_MAX => 112,
};

# The layout this SDK reads: version => [ headerSize, slotSize ].
my %LAYOUT = (2 => [ 320, 192 ]);

# File::Map is optional: without it the slot is written with syswrite.
my $HAVE_MAP = eval { require File::Map; 1 } ? 1 : 0;

sub now_us { return int(Time::HiRes::time() * 1_000_000) }

# open_segment($fd, $slot, map => 0|1): a segment object, or (undef, $why).
sub open_segment {
    my ($class, $fd, $slot, %opt) = @_;
    return (undef, 'plutonSlot is not set') unless defined $slot && $slot =~ /\A[0-9]+\z/;
    # A private open file description: the sysseek offset of fd 4 itself is
    # shared by every instance.
    my $fh;
    if (!open $fh, '+<', "/proc/self/fd/$fd") {    ## no critic (RequireBriefOpen)
        open $fh, '+<&=', $fd or return (undef, "cannot open fd $fd: $!");    ## no critic (RequireBriefOpen)
    }
    binmode $fh;
    my $hdr = q{};
    sysseek($fh, 0, SEEK_SET) or return (undef, "seek: $!");
    my $n = sysread $fh, $hdr, 320;
    return (undef, 'short header') unless defined $n && $n >= 64;
    my ($magic, $ver, $hsize, $ssize, $count, $aff, $cycle, $max_size, $read_ms, $pending, $threads)
        = unpack 'a4 V10', $hdr;
    return (undef, 'bad magic') if $magic ne MAGIC;
    my $layout = $LAYOUT{$ver} or return (undef, "version $ver is not supported");
    return (undef, 'bad header size') if $hsize != $layout->[0] || $n < $hsize;
    return (undef, 'bad slot size')   if $ssize != $layout->[1];
    return (undef, "slot $slot out of range (slot count $count)") if $slot >= $count;
    my $self = bless {
        fh               => $fh,
        version          => $ver,
        slot             => 0 + $slot,
        slot_count       => $count,
        affinity_timeout => $aff,
        base             => $hsize + $slot * $ssize,
        offset           => -1,    # the file offset of fh, -1 if unknown
        ok               => 1,
    }, $class;
    $self->{recorder_cycle}       = $cycle;
    $self->{maximum_request_size} = $max_size;
    $self->{request_read_timeout} = $read_ms / 1000;
    $self->{maximum_pending}      = $pending;
    $self->{threads_per_instance} = $threads || 1;    # 0 is read as 1
    (my $prefix = substr $hdr, 64, 256) =~ s/\0.*\z//s;
    $self->{recorder_prefix} = $prefix;
    my $use_map = exists $opt{map} ? $opt{map} : $HAVE_MAP;
    if ($use_map && $HAVE_MAP) {
        my $size = -s $fh;
        if (defined $size && $size >= $self->{base} + $ssize
            && eval { File::Map::map_handle(my $map, $fh, '+<'); $self->{map} = \$map; 1 }) {
            $self->{mapped} = 1;
        }
    }
    $self->{maximum_requests} = $self->_read32(48);
    return $self;
}

sub version              { my $self = shift; return $self->{version} }
sub affinity_timeout     { my $self = shift; return $self->{affinity_timeout} }
sub slot                 { my $self = shift; return $self->{slot} }
sub mapped               { my $self = shift; return $self->{mapped} ? 1 : 0 }
sub recorder_cycle       { my $self = shift; return $self->{recorder_cycle} || 0 }
sub recorder_prefix      { my $self = shift; return defined $self->{recorder_prefix} ? $self->{recorder_prefix} : q{} }
sub maximum_request_size { my $self = shift; return $self->{maximum_request_size} }
sub request_read_timeout { my $self = shift; return $self->{request_read_timeout} }
sub maximum_pending      { my $self = shift; return $self->{maximum_pending} }
sub threads_per_instance { my $self = shift; return $self->{threads_per_instance} }

# The manager writes maximumRequests before it starts the instance: read once.
sub maximum_requests { my $self = shift; return $self->{maximum_requests} }
sub shutdown_request { my $self = shift; return $self->_read32(52) }

# Writes $bytes at $off in the slot: a store into the mapping, or one
# syswrite (after a sysseek unless the file offset is there already).
sub _write {
    my ($self, $off, $bytes) = @_;
    return unless $self->{ok};
    $off += $self->{base};
    if ($self->{mapped}) {
        substr ${ $self->{map} }, $off, length $bytes, $bytes;
        return;
    }
    my $fh = $self->{fh};
    if ($self->{offset} != $off && !sysseek $fh, $off, SEEK_SET) {
        $self->{ok} = 0;
        return;
    }
    my $n = syswrite $fh, $bytes;
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
    $off += $self->{base};
    return unpack 'V', substr ${ $self->{map} }, $off, 4 if $self->{mapped};
    my $fh = $self->{fh};
    $self->{offset} = -1;
    sysseek($fh, $off, SEEK_SET) or return 0;
    my $b = q{};
    my $n = sysread $fh, $b, 4;
    return 0 unless defined $n && $n == 4;
    $self->{offset} = $off + 4;
    return unpack 'V', $b;
}

sub write_pid { my ($self, $pid) = @_; return $self->_write(0, pack 'V', $pid) }

# bytes 4-15: state and since
sub write_state {
    my ($self, $state, $since) = @_;
    my $bytes = pack 'V Q<', $state, $since;
    if ($self->{mapped}) {    # the common case, inline
        substr ${ $self->{map} }, $self->{base} + 4, length $bytes, $bytes;
        return;
    }
    return $self->_write(4, $bytes);
}

# bytes 4-23: busy, since and requests
sub write_busy {
    my ($self, $since, $requests) = @_;
    my $bytes = pack 'V Q< Q<', STATE_BUSY, $since, $requests;
    if ($self->{mapped}) {    # the common case, inline
        substr ${ $self->{map} }, $self->{base} + 4, length $bytes, $bytes;
        return;
    }
    return $self->_write(4, $bytes);
}

# bytes 16-47: the counters and the busy time, when a request is answered
sub write_counters {
    my ($self, $requests, $responses, $faults, $busy_us) = @_;
    my $bytes = pack 'Q< Q< Q< Q<', $requests, $responses, $faults, $busy_us;
    if ($self->{mapped}) {    # the common case, inline
        substr ${ $self->{map} }, $self->{base} + 16, length $bytes, $bytes;
        return;
    }
    return $self->_write(16, $bytes);
}

# A request is handed to the service's code: bytes 4-23 (busy, since,
# requests) and bytes 64 to 80 + the client name's length (the request's
# identity).
sub begin_request {
    my ($self, $since, $requests, $id, $recorder_index, $client_name) = @_;
    my $busy = pack 'V Q< Q<', STATE_BUSY, $since, $requests;
    my $name = substr $client_name, 0, CLIENT_NAME_MAX;
    my $who = pack 'Q< V V a*', $id < 0 ? 0 : $id, $recorder_index, length $name, $name;
    if ($self->{mapped}) {    # the common case, inline
        my $map = $self->{map};
        substr $$map, $self->{base} + 4, 20, $busy;
        substr $$map, $self->{base} + 64, length $who, $who;
        return;
    }
    $self->_write(4, $busy);
    $self->_write(64, $who);
    return;
}

sub write_exit_reason { my ($self, $reason) = @_; return $self->_write(56, pack 'V', $reason) }

sub close {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    if ($self->{mapped}) {
        File::Map::unmap(${ $self->{map} });
        $self->{mapped} = 0;
    }
    close $self->{fh} if $self->{fh};
    $self->{fh} = undef;
    $self->{ok} = 0;
    return;
}

1;

__END__

=head1 NAME

Pluton::Stats - the fd 4 stats segment (internal)

=head1 DESCRIPTION

Used by L<Pluton::Service> in manager mode; not a public interface. The
segment's header gives the affinity timeout, the service loop's limits, the
recorder settings and the threads per instance (C<maximum-threads>, 0 read
as 1); the instance's slot says what it is doing
(F<docs/protocol.md> section 4). With L<File::Map> installed the slot is
mapped and updated with plain stores; without it each update is one
C<syswrite> through a private open file description (F</proc/self/fd/4>),
after a C<sysseek> unless the file offset is already there. All integers are
little-endian.

=cut
