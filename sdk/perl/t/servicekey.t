use strict;
use warnings;
use Test::More;
use Pluton::ServiceKey;

my $sk = Pluton::ServiceKey->parse('system.echo.0.raw');
is($sk->application, 'system', 'application');
is($sk->function, 'echo', 'function');
is($sk->version, 0, 'version');
is($sk->serialization, 'raw', 'serialization');
is($sk->serialization_code, 'r', 'serialization code');
is($sk->key, 'system.echo.0.raw', 'key');
is($sk->socket_name, 'system.echo.0.raw.socket', 'socket name');
is($sk->wildcard_socket_name, 'system..0.raw.socket', 'wildcard socket name');
is($sk->search_key, 'system.raw.0.echo', 'search key');

ok(Pluton::ServiceKey->is_valid($_), "valid: $_") for (
    'a.b.0.raw', 'AddressBook.AddEntry.123456.JSON', ('x' x 32) . '.' . ('y' x 32) . '.9.XML',
    map({ "a.b.1.$_" } @Pluton::ServiceKey::SERIALIZATIONS),
);

my @bad = (
    [ 'system.echo.0'          => 'need four dot-separated tokens' ],
    [ 'system'                 => 'need four dot-separated tokens' ],
    [ ''                       => 'need four dot-separated tokens' ],
    [ 'system.echo.0.raw.'     => 'more than four dot-separated tokens' ],
    [ 'a.b.c.d.e'              => 'more than four dot-separated tokens' ],
    [ '.echo.0.raw'            => 'Application Name length is not in the range 1-32 characters' ],
    [ ('x' x 33) . '.e.0.raw'  => 'Application Name length is not in the range 1-32 characters' ],
    [ 'system..0.raw'          => 'Service Function is zero length' ],
    [ 'a.' . ('f' x 33) . '.0.raw' => 'Service Function length is greater than 32 characters' ],
    [ 'a.b..raw'               => 'Service Version length is not in the range 1-6 characters' ],
    [ 'a.b.1234567.raw'        => 'Service Version length is not in the range 1-6 characters' ],
    [ 'a.b.1x.raw'             => 'version is not a positive integer' ],
    [ 'a.b.1 .raw'             => 'version is not a positive integer' ],
    [ 'a.b.-1.raw'             => 'version is not a positive integer' ],
    [ 'a.b.034.raw'            => 'version has ambiguous leading zero' ],
    [ 'a.b.00.raw'             => 'version has ambiguous leading zero' ],
    [ 'a.b.0x1.raw'            => 'version has ambiguous leading zero' ],
    [ 'a.b.0.'                 => 'serialization is zero length' ],
    [ 'a.b.0.RAW'              => 'serialization type is unrecognized' ],
    [ 'a.b.0.json'             => 'serialization type is unrecognized' ],
    [ 'a/b.c.0.raw'            => "contains '/'" ],
    [ 'a.b/c.0.raw'            => "contains '/'" ],
    [ "a.b\0.0.raw"            => 'contains a NUL byte' ],
);
for my $t (@bad) {
    my ($key, $text) = @$t;
    (my $shown = $key) =~ s/\0/\\0/g;
    my $err = Pluton::ServiceKey->check($key);
    is($err, $text, "bad: '$shown'");
    eval { Pluton::ServiceKey->parse($key) };
    is(ref $@ && $@->code, -31, "parse dies with serviceKeyBad: '$shown'");
}

ok(Pluton::ServiceKey->is_valid('AddressBook..0.JSON', client => 0), 'wildcard allowed for config names');
ok(Pluton::ServiceKey->parse('AddressBook..0.JSON', client => 0)->is_wildcard, 'is_wildcard');

done_testing;
