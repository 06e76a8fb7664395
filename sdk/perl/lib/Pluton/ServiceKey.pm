package Pluton::ServiceKey;

use strict;
use warnings;

use Pluton::Fault;

use overload
    q{""}    => sub { my $self = shift; return $self->{key} },
    'bool'   => sub { return 1 },
    fallback => 1;

our $VERSION = '0.1.0';

our @SERIALIZATIONS = qw(COBOL HTML JMS JSON NETSTRING PHP SOAP XML raw);

# The original's serializationType char codes.
our %SERIALIZATION_CODE = (
    COBOL => 'c', HTML => 'h', JMS => 'm', JSON => 'j', NETSTRING => 'n',
    PHP   => 'p', SOAP => 's', XML => 'x', raw  => 'r',
);

# check($key, client => 1) returns the error text (the original's messages, as
# the Go servicekey package), or undef if the key is good.
# With client => 0 (config file names) an empty Function (a wildcard) is allowed.
sub check {
    my ($class, $key, %opt) = @_;
    my $client = exists $opt{client} ? $opt{client} : 1;
    return 'Service Key is undefined' unless defined $key;
    my @t = split /\./, $key, -1;
    return 'need four dot-separated tokens'      if @t < 4;
    return 'more than four dot-separated tokens' if @t > 4;
    for my $part (@t) {
        return "contains '/'"        if index($part, '/') >= 0;
        return 'contains a NUL byte' if index($part, "\0") >= 0;
    }
    my ($app, $func, $ver, $ser) = @t;
    return 'Application Name length is not in the range 1-32 characters'
        if length($app) < 1 || length($app) > 32;
    return 'Service Function is zero length' if $client && length($func) == 0;
    return 'Service Function length is greater than 32 characters' if length($func) > 32;
    return 'Service Version length is not in the range 1-6 characters'
        if length($ver) < 1 || length($ver) > 6;
    # the leading zero first, as the original (so 0x1 has a leading zero)
    return 'version has ambiguous leading zero' if $ver =~ /^0./s;
    return 'version is not a positive integer' if $ver =~ /[^0-9]/;
    return 'serialization is zero length' if length($ser) == 0;
    return 'serialization type is unrecognized' unless exists $SERIALIZATION_CODE{$ser};
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# parse($key, client => 1): a Pluton::ServiceKey, or dies with a
# Pluton::Fault serviceKeyBad (-31).
sub parse {
    my ($class, $key, %opt) = @_;
    if (defined(my $err = $class->check($key, %opt))) {
        Pluton::Fault->throw(code => Pluton::Fault::SERVICE_KEY_BAD, text => $err);
    }
    my ($app, $func, $ver, $ser) = split /\./, $key, -1;
    return bless {
        key => $key, application => $app, function => $func,
        version => 0 + $ver, serialization => $ser,
    }, $class;
}

sub new {
    my ($class, @args) = @_;
    return $class->parse(@args);
}

# _from_checked($key): a key already checked (by the request decoder).
sub _from_checked {
    my ($class, $key) = @_;
    my ($app, $func, $ver, $ser) = split /[.]/, $key, -1;
    return bless {
        key => $key, application => $app, function => $func,
        version => 0 + $ver, serialization => $ser,
    }, $class;
}

sub is_valid {
    my ($class, $key, %opt) = @_;
    return !defined $class->check($key, %opt);
}

sub key                { my $self = shift; return $self->{key} }
sub as_string          { my $self = shift; return $self->{key} }
sub application        { my $self = shift; return $self->{application} }
sub function           { my $self = shift; return $self->{function} }
sub version            { my $self = shift; return $self->{version} }
sub serialization      { my $self = shift; return $self->{serialization} }
sub serialization_code { my $self = shift; return $SERIALIZATION_CODE{ $self->{serialization} } }
sub is_wildcard        { my $self = shift; return length($self->{function}) == 0 }

# The key with an empty function: App..Ver.Ser
sub wildcard_key {
    my $self = shift;
    return join '.', $self->{application}, '', $self->{version}, $self->{serialization};
}

# The search key of the lookup map: App.Ser.Ver[.Func]
sub search_key {
    my $self = shift;
    my $s = join '.', $self->{application}, $self->{serialization}, $self->{version};
    $s .= ".$self->{function}" if length $self->{function};
    return $s;
}

sub socket_name          { my $self = shift; return $self->{key} . '.socket' }
sub wildcard_socket_name { my $self = shift; return $self->wildcard_key . '.socket' }

1;

__END__

=head1 NAME

Pluton::ServiceKey - parse and check Pluton service keys

=head1 SYNOPSIS

    use Pluton::ServiceKey;
    my $sk = Pluton::ServiceKey->parse('system.echo.0.raw');   # dies with a Pluton::Fault (-31)
    print "$sk";         # system.echo.0.raw
    $sk->application;    # system
    $sk->function;       # echo
    $sk->version;        # 0
    $sk->serialization;  # raw
    my $err = Pluton::ServiceKey->check('a.b.01.raw');  # 'version has ambiguous leading zero'

=head1 DESCRIPTION

A service key is C<Application.Function.Version.Serialization>: exactly four
dot-separated parts. Application is 1-32 bytes, Function 1-32 bytes (empty
only for a wildcard config file name, C<< client => 0 >>), Version 1-6
decimal digits without a leading zero unless it is exactly C<0>, and
Serialization one of C<COBOL HTML JMS JSON NETSTRING PHP SOAP XML raw>. A C</>
or a NUL byte anywhere is rejected, because a key becomes a file name. A key
object stringifies to the key.

=head1 METHODS

=head2 check

    Pluton::ServiceKey->check($key, client => 1)

The error text (the original's messages), or undef for a good key. With
C<< client => 0 >> an empty function (a wildcard) is allowed.

=head2 parse, new

    Pluton::ServiceKey->parse($key, client => 1)

A key object; dies with a L<Pluton::Fault> C<serviceKeyBad> (-31) whose text
is C<check>'s.

=head2 is_valid

True when C<check> finds nothing wrong.

=head2 key, as_string

The key as a string.

=head2 application, function, version, serialization

The parts (the version as a number).

=head2 serialization_code

The original's one-letter code of the serialization (C<r> for C<raw>).

=head2 is_wildcard

True when the function is empty.

=head2 wildcard_key

The key with an empty function, C<App..Ver.Ser>.

=head2 search_key

The lookup map's search key, C<App.Ser.Ver[.Func]>.

=head2 socket_name, wildcard_socket_name

The socket file names in the rendezvous directory: C<< <key>.socket >> and
C<< <App>..<Ver>.<Ser>.socket >>.

=cut
