use strict;
use warnings;
use Test::More;
use Pluton::Fault;

my $f = Pluton::Fault->new(-19, 'service timeout');
is($f->code, -19, 'code');
is($f->name, 'serviceTimeout', 'name');
is($f->text, 'service timeout', 'text');
ok($f->is_system, 'negative codes are system faults');
is($f->message, "pluton::Fault=-19 (serviceTimeout:client timeout expired) 'service timeout'", 'long message');
is($f->message('pre', 0), "pre pluton::Fault=-19 'service timeout'", 'short message with a prefix');
is("$f", $f->message, 'stringifies to the message');
ok($f, 'a fault is true in boolean context');

my $u = Pluton::Fault->new(111, 'sleep time negative');
is($u->name, '', 'a service code has no name');
ok(!$u->is_system, 'service fault');
is($u->message, "pluton::Fault=111 'sleep time negative'", 'service fault message');

is(Pluton::Fault::SERVICE_NOT_FOUND, -30, 'constant sub');
is(Pluton::Fault->code_for('contextFormatError'), -22, 'code_for');
is(Pluton::Fault->name(-31), 'serviceKeyBad', 'class-method name');
is(Pluton::Fault::NO_FAULT, 0, 'noFault');

my %expect = (
    -1 => 'alreadyInitialized', -2 => 'notInitialized', -3 => 'requestNotAdded',
    -9 => 'noAffinity', -10 => 'noWaitNotAllowed', -11 => 'needNoRetry', -16 => 'connectFailed',
    -17 => 'socketWriteFailed', -18 => 'socketReadFailed', -20 => 'incompleteResponse',
    -21 => 'responsePacketFormatError', -23 => 'contextReservedNamespace', -53 => 'getRequestNotNext',
    -54 => 'acceptFailed', -55 => 'noFauxSTDIN', -57 => 'requestDecodeFailed',
    -58 => 'requestNetStringParseError', -59 => 'sendResponseNotNext', -62 => 'unexpectedEOF',
);
is(Pluton::Fault->name($_), $expect{$_}, "code $_ is $expect{$_}") for sort { $a <=> $b } keys %expect;

eval { Pluton::Fault->throw(-30, 'nosuch.thing.0.raw') };
isa_ok($@, 'Pluton::Fault', 'throw dies with a fault');
is($@->code, -30, 'thrown code');

my $e = Pluton::Fault->new(-16, '/x', errno => 111);
like($e->message, qr/^pluton::Fault=-16 \(connectFailed:connect\(\) failed\) errno=111:\S.* '\/x'$/, 'errno in the message');

# The names and texts are the generated table of the spec, and every code has
# its constant.
require Pluton::Spec;
for my $f (@Pluton::Spec::FAULTS) {
    my ($code, $name, $english) = @{$f};
    is(Pluton::Fault->name($code), $name, "name of $code");
    is(Pluton::Fault->english($code), $english, "text of $code");
    is(Pluton::Fault->code_for($name), $code, "code of $name");
}
is(scalar @Pluton::Fault::EXPORT_OK, scalar @Pluton::Spec::FAULTS, 'a constant for every code');
is(Pluton::Fault::MMAP_INHERITED_SHM_FD_FAILED(), -52, 'constant of a name with an acronym');
is(Pluton::Fault::NO_FAUX_STDIN(), -55, 'constant of a name ending in an acronym');

done_testing;
