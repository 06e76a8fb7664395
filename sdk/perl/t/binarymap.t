use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use POSIX ();
use Pluton::BinaryMap;
use Pluton::Client;
use Pluton::Fault qw(:codes);

# The original's binary lookup map (docs/protocol.md section 7.2), as a real
# `plutonManager --lookup-format binary` writes it at -L: checked against the
# layout, every key resolved, a client calling through it (exact and
# wildcard); short and corrupt maps are the faults the other clients give.

is(Pluton::BinaryMap::key_hash(''), 0, 'hash of nothing');
is(Pluton::BinaryMap::key_hash('a'), 0x61, 'hash of one byte');
is(Pluton::BinaryMap::key_hash('ab'), (0x61 * 33) ^ 0x62, 'hash of two');
{
    my $h = 0;
    $h = (($h * 33) % 2**32) ^ $_ for unpack 'C*', 'a.long.key.that.wraps.past.thirty.two.bits.of.hash';
    is(Pluton::BinaryMap::key_hash('a.long.key.that.wraps.past.thirty.two.bits.of.hash'), $h, 'hash wraps at 32 bits');
}

my $bin = $ENV{PLUTON_BIN} || dist_root() . '/../../bin';
plan skip_all => "no plutonManager in $bin (make build, or set PLUTON_BIN)" unless -x "$bin/plutonManager";

my $dir = temp_dir();
mkdir "$dir/config" or die;
my $config = "exec $^X -I" . lib_dir() . ' ' . echo_script() . "\nminimum-processes 1\nmaximum-processes 1\n";
my @keys = ('perl.echo.0.raw', 'perl..0.raw', 'other.f.3.JSON');
for my $key (@keys) {
    open(my $fh, '>', "$dir/config/$key") or die;
    print $fh $config;
    close $fh;
}
my $mgr = fork // die "fork: $!";
if (!$mgr) {
    open(STDOUT, '>', "$dir/manager.log") or POSIX::_exit(127);
    open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
    exec("$bin/plutonManager", '--lookup-format', 'binary', '-C', "$dir/config", '-R', "$dir/rendezvous",
        '-L', "$dir/lookup.map") or POSIX::_exit(127);
}
END { if ($mgr) { kill 'TERM', $mgr; wait_exit($mgr, 10) // kill 'KILL', $mgr } }

ok(wait_until(20, sub { !grep { !-S "$dir/rendezvous/$_.socket" } @keys }), 'the services are up')
    or diag slurp("$dir/manager.log");
ok(wait_until(10, sub { -s "$dir/lookup.map" }), 'the map is written') or diag slurp("$dir/manager.log");
ok(!-e "$dir/lookup.map.bin", 'binary format: no second map');

my $data = slurp("$dir/lookup.map");
ok(Pluton::BinaryMap::is_binary($data), 'the map at -L is binary');
my ($version, $flag, $table, $max_index, $size, $entry_base, $string_base) = unpack 'L a1 x3 L L L L L', $data;
my $map = Pluton::BinaryMap->new($data);
my $entries = $map->entries;
my $n = keys %$entries;
is($n, 4, 'three services and the rendezvous entry');
is($version, 1001, 'version');
is($flag, 'n', 'current');
ok(!$map->stale, 'not stale');
is($table, 2 * $n + 7, 'hashTableSize');
is($max_index, $n + 1, 'maximumEntryIndex');
is($size, length $data, 'mapSize');
is($entry_base, 32 + 4 * $table, 'entryBaseOffset');
is($string_base, $entry_base + 20 * ($n + 1), 'stringBaseOffset');
my $strings = 0;
$strings += length($_) + length($entries->{$_}) for keys %$entries;
is($size, $string_base + $strings, 'then the strings');
is(substr($data, $entry_base, 20), "\0" x 20, 'entry 0 is none');

my $rv = "$dir/rendezvous";
is_deeply($entries, {
    '/rendezvous'    => $rv,
    'perl.raw.0.echo' => "$rv/perl.echo.0.raw.socket",
    'perl.raw.0'      => "$rv/perl..0.raw.socket",
    'other.JSON.3.f'  => "$rv/other.f.3.JSON.socket",
}, 'every entry');
for my $key (sort keys %$entries) {
    is_deeply([ $map->find($key) ], [ $entries->{$key}, $key ], "find $key");
    is($map->get($key), $entries->{$key}, "get $key");
}
is_deeply([ $map->find('perl.raw.0.anything') ], [ "$rv/perl..0.raw.socket", 'perl.raw.0' ], 'the wildcard');
is_deeply([ $map->find('perl.raw.1.echo') ], [], 'another version is not found');
is($map->get('perl.raw'), undef, 'no partial entry');
is($map->rendezvous, $rv, 'the rendezvous entry');
is_deeply([ Pluton::BinaryMap::read_rendezvous("$dir/lookup.map") ], [$rv], 'read_rendezvous');
is_deeply([ Pluton::BinaryMap::read_rendezvous("$dir/config/perl.echo.0.raw") ], [], 'a text file is not binary');

# A map without /rendezvous (as the original wrote): the first socket's directory.
{
    my $copy = $data;
    my $at = index $copy, '/rendezvous', $string_base;
    ok($at > 0, 'the key is in the strings');
    substr($copy, $at, 1, 'X');
    is(Pluton::BinaryMap->new($copy)->rendezvous, $rv, 'without the rendezvous entry: the sockets\' directory');
}

my $c = Pluton::Client->new(name => 'binmap', lookup => "$dir/lookup.map", timeout => 10);
is($c->call('perl.echo.0.raw', 'through the binary map'), 'through the binary map', 'a call through the binary map');
is($c->rendezvous, $rv, 'the client found the rendezvous directory');
is($c->call('perl.other.0.raw', 'wildcard'), 'wildcard', 'a wildcard call');
is($c->call('other.f.3.JSON', 'json'), 'json', 'the third service');
{
    local $ENV{plutonLookupMap} = "$dir/lookup.map";
    my $e = Pluton::Client->new(name => 'env');
    is($e->call('perl.echo.0.raw', 'env'), 'env', 'through $plutonLookupMap');
}

# Bad maps: the codes of the Python and PHP clients, naming the path and the field.
my @cases = (
    [ substr($data, 0, 20), SHM_IMPOSSIBLY_SMALL, qr/20 bytes/, 'short' ],
    [ substr($data, 0, -3), MAP_INITIALIZATION_FAILED, qr/mapSize/, 'truncated' ],
    [ substr($data, 0, 8) . "\0" x 4 . substr($data, 12), MAP_INITIALIZATION_FAILED, qr/hashTableSize is 0/, 'no hash table' ],
    [ substr($data, 0, 8) . pack('L', 1 << 30) . substr($data, 12), MAP_INITIALIZATION_FAILED, qr/hashTableSize \d+ does not fit/, 'a huge hash table' ],
    [ substr($data, 0, 24) . pack('L', $size + 1) . substr($data, 28), MAP_INITIALIZATION_FAILED, qr/beyond mapSize/, 'string base beyond the map' ],
);
for my $i (0 .. $#cases) {
    my ($bytes, $code, $text, $name) = @{ $cases[$i] };
    my $p = "$dir/bad$i.map";
    open(my $fh, '>:raw', $p) or die;
    print $fh $bytes;
    close $fh;
    my $bc = Pluton::Client->new(name => 'bad', lookup => $p, timeout => 2);
    ok(!$bc->initialize, "$name: initialize fails");
    my $f = $bc->fault;
    is($f && $f->code, $code, "$name: fault $code");
    like($f && $f->text, $text, "$name: names what is wrong");
    like($f && $f->text, qr/\Q$p\E/, "$name: names the path");
    eval { $bc->call('perl.echo.0.raw', 'x') };
    is(ref $@ && $@->code, $code, "$name: call dies with the fault");
}

# Every single-byte corruption parses cleanly or dies with a message; lookups never die.
my ($died, @bad) = (0);
for my $i (0 .. length($data) - 1) {
    my $b = $data;
    substr($b, $i, 1, chr(ord(substr $b, $i, 1) ^ 0xFF));
    my $m = eval { Pluton::BinaryMap->new($b) };
    if (!$m) {
        $died++ if $@ =~ /\S/;
        next;
    }
    my $ok = eval { $m->find('perl.raw.0.echo'); $m->entries; eval { $m->rendezvous }; 1 };
    push @bad, "$i: $@" unless $ok;
}
is_deeply(\@bad, [], 'after any one corrupt byte, lookups do not die');
ok($died > 0, "corrupt headers are refused with a message ($died)");

done_testing;
