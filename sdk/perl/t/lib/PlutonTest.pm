package PlutonTest;

# Helpers for the tests: spawning the echo example with chosen fds 3/4/5,
# waiting for processes and files, and a small stats-segment emulation of the
# manager.

use strict;
use warnings;

use Exporter 'import';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Fcntl qw(F_DUPFD SEEK_SET);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    dist_root lib_dir echo_script temp_dir spawn_echo wait_exit wait_until
    make_segment read_slot write_slot32 slurp kill_all read_records managed_echo
);

my @CHILDREN;

sub dist_root { abs_path(File::Spec->catdir(dirname(__FILE__), '..', '..')) }
sub lib_dir     { File::Spec->catdir(dist_root(), 'lib') }
sub echo_script { File::Spec->catfile(dist_root(), 'examples', 'echo.pl') }

sub temp_dir { tempdir('plutonXXXXXX', TMPDIR => 1, CLEANUP => 1) }

# spawn_echo(fds => { 3 => $fh, 4 => $fh, 5 => $fh }, env => {...},
#            stderr => $path, script => $path, args => [...], lib => $dir,
#            direct => 1 (exec the script itself, by its #! line))
# Any of fds 3, 4, 5 not given is closed in the child.
sub spawn_echo {
    my %o = @_;
    my $script = $o{script} || echo_script();
    my @inc = exists $o{lib} ? (defined $o{lib} ? ('-I', $o{lib}) : ()) : ('-I', lib_dir());
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval {
            my %fds = %{ $o{fds} || {} };
            my %high;
            for my $t (keys %fds) {
                my $fh = $fds{$t};
                my $h = fcntl($fh, F_DUPFD, 30) or die "F_DUPFD: $!";
                $high{$t} = $h;
            }
            for my $t (3, 4, 5) {
                if (exists $high{$t}) {
                    POSIX::dup2($high{$t}, $t) or die "dup2: $!";
                }
                else {
                    POSIX::close($t);
                }
            }
            POSIX::close($_) for values %high;
            if ($o{stderr}) {
                open(STDERR, '>>', $o{stderr}) or die "stderr: $!";
            }
            open(STDOUT, '>', '/dev/null');
            open(STDIN,  '<', '/dev/null');
            delete $ENV{$_} for qw(plutonAcceptSocket plutonSlot plutonPacketTrace);
            my $env = $o{env} || {};
            for my $k (keys %$env) {
                if (defined $env->{$k}) { $ENV{$k} = $env->{$k} }
                else                    { delete $ENV{$k} }
            }
            my @cmd = $o{direct} ? ($script) : ($^X, @inc, $script);
            exec(@cmd, @{ $o{args} || [] }) or die "exec: $!";
        };
        print STDERR "spawn_echo child: $@";
        POSIX::_exit(99);
    }
    push @CHILDREN, $pid;
    return $pid;
}

# wait_exit($pid, $seconds): the wait status, or undef if still running.
sub wait_exit {
    my ($pid, $secs) = @_;
    my $until = time + $secs;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            @CHILDREN = grep { $_ != $pid } @CHILDREN;
            return $?;
        }
        return -1 if $r < 0;
        return undef if time > $until;
        sleep 0.01;
    }
}

sub wait_until {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.01;
    }
    return $cond->() ? 1 : 0;
}

sub kill_all {
    for my $pid (@CHILDREN) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    @CHILDREN = ();
}

END { kill_all() }

# make_segment($path, slots => 3, affinity => 60, magic => 'PLSS', version => 2,
#              max_requests => [..], max_size => N, read_timeout_ms => N,
#              max_pending => N, recorder_prefix => P, recorder_cycle => N,
#              threads => N (threadsPerInstance, header offset 40)):
# creates the fd 4 file and returns a read-write handle on it.
my %LAYOUT = (1 => [ 64, 64 ], 2 => [ 320, 192 ]);

sub make_segment {
    my ($path, %o) = @_;
    my $slots = $o{slots} || 1;
    my $v = defined $o{version} ? $o{version} : 2;
    my ($hs, $ss) = @{ $LAYOUT{$v} || $LAYOUT{2} };
    my $hdr = pack('a4 V V V V V V V V V V', $o{magic} || 'PLSS', $v, $hs, $ss, $slots,
        defined $o{affinity} ? $o{affinity} : 60, $o{recorder_cycle} || 0, $o{max_size} || 0,
        $o{read_timeout_ms} || 0, $o{max_pending} || 0, $o{threads} || 0);
    $hdr .= "\0" x (64 - length $hdr);
    $hdr .= pack('a256', $o{recorder_prefix} || '') if $hs > 64;
    my $body = '';
    for my $i (0 .. $slots - 1) {
        my $max = $o{max_requests} ? ($o{max_requests}[$i] || 0) : 0;
        my $slot = pack('V V Q< Q< Q< Q< Q< V V V V', 0, 0, 0, 0, 0, 0, 0, $max, 0, 0, 0);
        $body .= $slot . "\0" x ($ss - length $slot);
    }
    open(my $fh, '+>', $path) or die "$path: $!";
    binmode $fh;
    syswrite($fh, $hdr . $body) == $hs + $ss * $slots or die "short write";
    return $fh;
}

# managed_echo(key => SK, <make_segment options>): the echo example started
# as the manager starts an instance: a listening socket on fd 3, a one-slot
# stats segment on fd 4, a report pipe on fd 5, plutonSlot 0. Returns a hash
# with dir, socket (its path), seg (the segment's path), pid and reports (the
# read end of the pipe).
sub managed_echo {
    my %o = @_;
    my $key = delete $o{key} || 'perl.echo.0.raw';
    my $dir = temp_dir();
    my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/$key.socket", Listen => 20)
        or die "listen: $!";
    my $seg = "$dir/$key.mmap";
    my $segfh = make_segment($seg, slots => 1, %o);
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = spawn_echo(fds => { 3 => $listen, 4 => $segfh, 5 => $wr }, env => { plutonSlot => 0 },
        stderr => "$dir/echo.err");
    close $wr;
    return { dir => $dir, socket => "$dir/$key.socket", seg => $seg, pid => $pid, reports => $rd,
        listen => $listen, segment => $segfh };
}

sub _layout { my $path = shift; my $v = unpack 'x4 V', slurp($path); return @{ $LAYOUT{$v} || $LAYOUT{2} } }

# read_slot($path, $slot): a hash of the slot's fields.
sub read_slot {
    my ($path, $slot) = @_;
    my ($hs, $ss) = _layout($path);
    open(my $fh, '<', $path) or die "$path: $!";
    binmode $fh;
    sysseek($fh, $hs + $ss * $slot, SEEK_SET);
    sysread($fh, my $b, $ss) == $ss or die 'short slot';
    my %s;
    @s{qw(pid state since requests responses faults busy_us max_requests shutdown_request exit_reason)}
        = unpack 'V V Q< Q< Q< Q< Q< V V V', $b;
    if ($ss >= 192) {
        my ($id, $rec, $len) = unpack 'x64 Q< V V', $b;
        @s{qw(request_id recorder_index client_name)} = ($id, $rec, substr($b, 80, $len));
    }
    return \%s;
}

sub write_slot32 {
    my ($path, $slot, $off, $value) = @_;
    my ($hs, $ss) = _layout($path);
    open(my $fh, '+<', $path) or die "$path: $!";
    binmode $fh;
    sysseek($fh, $hs + $ss * $slot + $off, SEEK_SET);
    syswrite($fh, pack('V', $value)) == 4 or die 'short write';
    close $fh;
}

sub slurp {
    my $path = shift;
    open(my $fh, '<', $path) or return '';
    binmode $fh;
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

# read_records($fh, $seconds, $want): report records (hash refs) read from
# the pipe within $seconds, stopping early once $want records arrived.
sub read_records {
    my ($fh, $secs, $want) = @_;
    my @recs;
    my $buf = '';
    my $until = time + $secs;
    while (time < $until && (!$want || @recs < $want)) {
        my $rin = '';
        vec($rin, fileno($fh), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 0.05);
        next unless $n && $n > 0;
        my $r = sysread($fh, my $chunk, 528 * 4);
        last unless $r;
        $buf .= $chunk;
        while (length($buf) >= 528) {
            my $rec = substr($buf, 0, 528, '');
            my ($v, $pid, $slot, $count) = unpack 'V V V V', $rec;
            my @e;
            for my $i (0 .. 15) {
                my ($out, $dur, $rq, $rs, $func) = unpack 'V V V V a16', substr($rec, 16 + 32 * $i, 32);
                $func =~ s/\0+\z//;
                push @e, { outcome => $out, duration => $dur, request_bytes => $rq,
                           response_bytes => $rs, function => $func } if $i < $count;
                die "entry $i past count is not zero" if $i >= $count && substr($rec, 16 + 32 * $i, 32) ne "\0" x 32;
            }
            push @recs, { version => $v, pid => $pid, slot => $slot, count => $count, entries => \@e };
        }
    }
    return @recs;
}

1;
