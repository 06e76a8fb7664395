package Pluton::Fault;

use strict;
use warnings;

use Exporter qw(import);

use overload
    q{""}    => sub { my $self = shift; return $self->message },
    'bool'   => sub { return 1 },
    fallback => 1;

our $VERSION = '0.1.0';

use Pluton::Spec ();

# [ code, constant, name, english ] of every fault code, from the generated
# table of spec/pluton.json (Pluton::Spec). The constant is the name in upper
# case with words split by underscores: serviceNotFound is SERVICE_NOT_FOUND,
# mmapInheritedShmFDFailed is MMAP_INHERITED_SHM_FD_FAILED.
sub _constant_of {
    my ($name) = @_;
    (my $c = $name) =~ s/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/_/gxms;
    return uc $c;
}

my @TABLE;
BEGIN {
    @TABLE = map { [ $_->[0], _constant_of($_->[1]), $_->[1], $_->[2] ] } @Pluton::Spec::FAULTS;
}

my %BY_CODE = map { $_->[0] => $_ } @TABLE;
my %CODE_OF = map { $_->[2] => $_->[0] } @TABLE;

# The constants (Pluton::Fault::SERVICE_NOT_FOUND == -30), exportable one by
# one or all with the tag :codes.
use constant { map { $_->[1] => $_->[0] } @TABLE };    ## no critic (ProhibitConstantPragma)
our @EXPORT_OK = map { $_->[1] } @TABLE;
our %EXPORT_TAGS = (codes => [@EXPORT_OK]);

sub new {
    my ($class, @args) = @_;
    my %o;
    if (@args && defined $args[0] && $args[0] =~ /\A(?:code|text|errno)\z/) {
        %o = @args;
    }
    else {
        my ($code, $text, %more) = @args;
        %o = (%more, code => $code, text => $text);
    }
    my $code = defined $o{code} ? int $o{code} : 0;
    $class = 'Pluton::Fault::Timeout' if $code == SERVICE_TIMEOUT && $class eq __PACKAGE__;
    my $self = bless { code => $code, text => defined $o{text} ? "$o{text}" : q{} }, $class;
    $self->{errno} = 0 + $o{errno} if $o{errno};
    return $self;
}

sub throw {
    my ($class, @args) = @_;
    die $class->new(@args);
}

sub code {
    my $self = shift;
    return $self->{code};
}

sub text {
    my $self = shift;
    return $self->{text};
}

sub errno {
    my $self = shift;
    return $self->{errno} || 0;
}

sub is_system {
    my $self = shift;
    return $self->{code} < 0 ? 1 : 0;
}

sub name {
    my ($self, $code) = @_;
    $code = $self->{code} if ref $self;
    return exists $BY_CODE{$code} ? $BY_CODE{$code}[2] : q{};
}

sub english {
    my ($self, $code) = @_;
    $code = $self->{code} if ref $self;
    return exists $BY_CODE{$code} ? $BY_CODE{$code}[3] : q{};
}

sub code_for {
    my ($class, $name) = @_;
    return $CODE_OF{$name};
}

# The original's format:
# [<pre> ]pluton::Fault=<code>[ (<name>:<english>)][ errno=<n>:<strerror>][ '<text>']
sub message {
    my ($self, $pre, $long) = @_;
    $long = 1 unless defined $long;
    my $m = defined $pre && length $pre ? "$pre " : q{};
    $m .= "pluton::Fault=$self->{code}";
    if ($long && exists $BY_CODE{ $self->{code} }) {
        $m .= " ($BY_CODE{$self->{code}}[2]:$BY_CODE{$self->{code}}[3])";
    }
    if ($self->{errno}) {
        local $! = $self->{errno};
        $m .= " errno=$self->{errno}:$!";
    }
    $m .= " '$self->{text}'" if length $self->{text};
    return $m;
}

# The subclasses, loaded with the base class.
require Pluton::Fault::Timeout;
require Pluton::Fault::Service;

1;

__END__

=head1 NAME

Pluton::Fault - a fault: the exception of Pluton

=head1 SYNOPSIS

    use Pluton::Fault qw(SERVICE_NOT_FOUND);

    my $reply = eval { $client->call('system.echo.0.raw', 'hi') };
    if (my $f = $@) {
        die $f unless ref $f && $f->isa('Pluton::Fault');
        if ($f->isa('Pluton::Fault::Timeout')) { ... }       # the call timed out
        elsif ($f->isa('Pluton::Fault::Service')) { ... }    # the service sent it
        elsif ($f->code == SERVICE_NOT_FOUND) { ... }
        printf "%d %s: %s\n", $f->code, $f->name, $f->text;
        print "$f\n";    # pluton::Fault=-19 (serviceTimeout:client timeout expired) 'service timeout'
    }

    # in a service's handler: answer this request with a fault
    die Pluton::Fault->new(code => 111, text => 'sleep time negative');

=head1 DESCRIPTION

A fault has a numeric C<code>, a C<name> (empty for codes outside the table,
such as a service's own codes above 10), a C<text> and a C<message> in the
original Pluton's long format, which is also what the object stringifies to.
Codes below 0 are system faults raised by the SDK, 0 is C<noFault>, 1 to 10
are reserved service faults with predefined meanings (6 and 7 are this
project's, see below), and codes above 10 belong to services.

Two subclasses let a caller test the kind of a fault with C<isa>:
L<Pluton::Fault::Timeout> (the call's time ran out, code -19) and
L<Pluton::Fault::Service> (the fault came in a response packet: the service,
or the manager on its behalf, sent it).

=head1 CONSTANTS

Every code has a constant in upper case, C<Pluton::Fault::SERVICE_NOT_FOUND>
(-30) and so on, exportable by name or all at once with
C<use Pluton::Fault qw(:codes)>. The codes, names and texts are those of
L<Pluton::Spec>, generated from F<spec/pluton.json>; the constant is the
name in upper case, words split by underscores:

    NO_FAULT                             0  noFault
    DESERIALIZE_FAILED                   1  deserializeFailed
    UNKNOWN_FUNCTION                     2  unknownFunction
    REQUEST_TOO_LARGE                    3  requestTooLarge
    REMOTE_CONNECT_FAILED                4  remoteConnectFailed
    REMOTE_TRANSFER_FAILED               5  remoteTransferFailed
    SERVICE_EXCEPTION                    6  serviceException
    SERVICE_UNAVAILABLE                  7  serviceUnavailable
    LAST_RESERVED_USER_FAULT            10  lastReservedUserFault
    ALREADY_INITIALIZED                 -1  alreadyInitialized
    NOT_INITIALIZED                     -2  notInitialized
    REQUEST_NOT_ADDED                   -3  requestNotAdded
    REQUEST_ALREADY_ADDED               -4  requestAlreadyAdded
    REQUEST_IN_PROGRESS                 -5  requestInProgress
    RESPONSE_IN_PROGRESS                -6  responseInProgress
    UNIMPLEMENTED                       -7  unimplemented
    BAD_REQUEST_LENGTH                  -8  badRequestLength
    NO_AFFINITY                         -9  noAffinity
    NO_WAIT_NOT_ALLOWED                -10  noWaitNotAllowed
    NEED_NO_RETRY                      -11  needNoRetry
    OPEN_SOCKET_FAILED                 -15  openSocketFailed
    CONNECT_FAILED                     -16  connectFailed
    SOCKET_WRITE_FAILED                -17  socketWriteFailed
    SOCKET_READ_FAILED                 -18  socketReadFailed
    SERVICE_TIMEOUT                    -19  serviceTimeout
    INCOMPLETE_RESPONSE                -20  incompleteResponse
    RESPONSE_PACKET_FORMAT_ERROR       -21  responsePacketFormatError
    CONTEXT_FORMAT_ERROR               -22  contextFormatError
    CONTEXT_RESERVED_NAMESPACE         -23  contextReservedNamespace
    SETSOCKOPT_FAILED                  -24  setsockoptFailed
    FCNTL_FAILED                       -25  fcntlFailed
    SERVICE_NOT_FOUND                  -30  serviceNotFound
    SERVICE_KEY_BAD                    -31  serviceKeyBad
    MAP_INITIALIZATION_FAILED          -32  mapInitializationFailed
    OPEN_FOR_MMAP_FAILED               -33  openForMmapFailed
    LOOKUP_BUT_NO_MAP                  -34  lookupButNoMap
    PERSISTENT_REMAP_FLAG              -35  persistentRemapFlag
    EXCEEDED_RETRY_LIMIT               -43  exceededRetryLimit
    RETRY_NOT_ALLOWED                  -44  retryNotAllowed
    REMOTE_NOT_ALLOWED                 -45  remoteNotAllowed
    WRITE_EVENT_FOR_WRONG_FD           -46  writeEventForWrongFD
    READ_EVENT_FOR_WRONG_FD            -47  readEventForWrongFD
    WRITE_EVENT_WRONG_STATE            -48  writeEventWrongState
    READ_EVENT_WRONG_STATE             -49  readEventWrongState
    OPEN_ACCEPT_SOCKET_FAILED          -51  openAcceptSocketFailed
    MMAP_INHERITED_SHM_FD_FAILED       -52  mmapInheritedShmFDFailed
    GET_REQUEST_NOT_NEXT               -53  getRequestNotNext
    ACCEPT_FAILED                      -54  acceptFailed
    NO_FAUX_STDIN                      -55  noFauxSTDIN
    WRONG_NS_TYPE                      -56  wrongNSType
    REQUEST_DECODE_FAILED              -57  requestDecodeFailed
    REQUEST_NET_STRING_PARSE_ERROR     -58  requestNetStringParseError
    SEND_RESPONSE_NOT_NEXT             -59  sendResponseNotNext
    SEND_RAW_RESPONSE_NOT_NEXT         -60  sendRawResponseNotNext
    NET_STRING_TOO_LARGE               -61  netStringTooLarge
    UNEXPECTED_EOF                     -62  unexpectedEOF
    BIND_FAILED                        -63  bindFailed
    UNLINK_FAILED                      -64  unlinkFailed
    LISTEN_FAILED                      -65  listenFailed
    EMPTY_IDENTIFIER                   -66  emptyIdentifier
    POLL_INTERRUPTED                   -67  pollInterrupted
    SHM_FSTAT_FAILED                  -101  shmFstatFailed
    SHM_MMAP_FAILED                   -102  shmMmapFailed
    SHM_VERSION_MIS_MATCH             -103  shmVersionMisMatch
    SHM_THREAD_CONFIG_NOT_SERVICE     -104  shmThreadConfigNotService
    SHM_THREAD_SERVICE_NOT_CONFIG     -105  shmThreadServiceNotConfig
    SHM_PRE_WRITE_FAILED              -106  shmPreWriteFailed
    SHM_IMPOSSIBLY_SMALL              -107  shmImpossiblySmall
    SERIOUS_INTERNAL_OS_ERROR         -998  seriousInternalOSError
    SERIOUS_INTERNAL_ROUTING_ERROR    -999  seriousInternalRoutingError

C<SERVICE_EXCEPTION> (6) is what a service's handler answers when its code
dies with something other than a fault; C<SERVICE_UNAVAILABLE> (7) is what
the manager answers for a service that cannot take requests now;
C<REQUEST_TOO_LARGE> (3) is what a service answers to a request longer than
its C<maximum-request-size>.

=head1 METHODS

=head2 new

    Pluton::Fault->new(code => $code, text => $text)
    Pluton::Fault->new($code, $text, errno => $errno)

A new fault. A code of -19 (C<SERVICE_TIMEOUT>) makes a
L<Pluton::Fault::Timeout>. C<errno> (optional) is the system error number
behind a system fault; it appears in the C<message>.

=head2 throw

    Pluton::Fault->throw(code => $code, text => $text);

Dies with a new fault (the same arguments as C<new>).

=head2 code

The numeric code.

=head2 text

The text ('' when there is none).

=head2 errno

The system error number recorded with the fault, or 0.

=head2 name

The code's name (C<serviceTimeout>), or '' for a code outside the table.
Also a class method: C<< Pluton::Fault->name(-31) >> is C<serviceKeyBad>.

=head2 english

The code's short English description, or ''. Also a class method.

=head2 code_for

    Pluton::Fault->code_for('serviceNotFound');    # -30

The code of a name, or undef.

=head2 is_system

True for a system fault (a code below 0).

=head2 message

    $fault->message;                 # the long format
    $fault->message($prefix, 0);     # the short format, with a prefix

The original's format:
C<< [<prefix> ]pluton::Fault=<code>[ (<name>:<english>)][ errno=<n>:<strerror>][ '<text>'] >>;
the part in parentheses is left out in the short format.

=cut
