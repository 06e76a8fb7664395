package Pluton::Fault;

use strict;
use warnings;

use Exporter qw(import);

use overload
    q{""}    => sub { my $self = shift; return $self->message },
    'bool'   => sub { return 1 },
    fallback => 1;

our $VERSION = '0.1.0';

# [ code, constant, name, english ]: the original's include/pluton/fault.h
# table, plus the codes 6 and 7 of this project (docs/sdk.md).
my @TABLE;
BEGIN {
    @TABLE = (
    [     0, 'NO_FAULT',                       'noFault',                     'no fault' ],
    [     1, 'DESERIALIZE_FAILED',             'deserializeFailed',           'the service could not de-serialize the request' ],
    [     2, 'UNKNOWN_FUNCTION',               'unknownFunction',             'a wildcard service got a function it does not know' ],
    [     3, 'REQUEST_TOO_LARGE',              'requestTooLarge',             'request too large' ],
    [     4, 'REMOTE_CONNECT_FAILED',          'remoteConnectFailed',         'proxy could not reach the remote host' ],
    [     5, 'REMOTE_TRANSFER_FAILED',         'remoteTransferFailed',        'proxy transfer failed part-way' ],
    [     6, 'SERVICE_EXCEPTION',              'serviceException',            'the service\'s own code failed' ],
    [     7, 'SERVICE_UNAVAILABLE',            'serviceUnavailable',          'the service cannot take requests now' ],
    [    10, 'LAST_RESERVED_USER_FAULT',       'lastReservedUserFault',       'top of the reserved user range' ],
    [    -1, 'ALREADY_INITIALIZED',            'alreadyInitialized',          'initialize called twice' ],
    [    -2, 'NOT_INITIALIZED',                'notInitialized',              'a call made before initialize' ],
    [    -3, 'REQUEST_NOT_ADDED',              'requestNotAdded',             'request was never added' ],
    [    -4, 'REQUEST_ALREADY_ADDED',          'requestAlreadyAdded',         'request added twice' ],
    [    -5, 'REQUEST_IN_PROGRESS',            'requestInProgress',           'request not yet fully sent' ],
    [    -6, 'RESPONSE_IN_PROGRESS',           'responseInProgress',          'response not yet read' ],
    [    -7, 'UNIMPLEMENTED',                  'unimplemented',               'method not implemented' ],
    [    -8, 'BAD_REQUEST_LENGTH',             'badRequestLength',            'request length < 0' ],
    [    -9, 'NO_AFFINITY',                    'noAffinity',                  'needAffinity without an affinity connection' ],
    [   -10, 'NO_WAIT_NOT_ALLOWED',            'noWaitNotAllowed',            'noWait together with keepAffinity' ],
    [   -11, 'NEED_NO_RETRY',                  'needNoRetry',                 'keepAffinity requires noRetry' ],
    [   -15, 'OPEN_SOCKET_FAILED',             'openSocketFailed',            'socket() failed' ],
    [   -16, 'CONNECT_FAILED',                 'connectFailed',               'connect() failed' ],
    [   -17, 'SOCKET_WRITE_FAILED',            'socketWriteFailed',           'socket write failed' ],
    [   -18, 'SOCKET_READ_FAILED',             'socketReadFailed',            'socket read failed' ],
    [   -19, 'SERVICE_TIMEOUT',                'serviceTimeout',              'client timeout expired' ],
    [   -20, 'INCOMPLETE_RESPONSE',            'incompleteResponse',          'service closed with the response unfinished' ],
    [   -21, 'RESPONSE_PACKET_FORMAT_ERROR',   'responsePacketFormatError',   'response packet invalid' ],
    [   -22, 'CONTEXT_FORMAT_ERROR',           'contextFormatError',          'context malformed' ],
    [   -23, 'CONTEXT_RESERVED_NAMESPACE',     'contextReservedNamespace',    'context key uses the pluton. prefix' ],
    [   -24, 'SETSOCKOPT_FAILED',              'setsockoptFailed',            'setsockopt failed' ],
    [   -25, 'FCNTL_FAILED',                   'fcntlFailed',                 'fcntl failed' ],
    [   -30, 'SERVICE_NOT_FOUND',              'serviceNotFound',             'ServiceKey is not in lookupMap' ],
    [   -31, 'SERVICE_KEY_BAD',                'serviceKeyBad',               'ServiceKey badly formed' ],
    [   -32, 'MAP_INITIALIZATION_FAILED',      'mapInitializationFailed',     'could not open the lookup map' ],
    [   -33, 'OPEN_FOR_MMAP_FAILED',           'openForMmapFailed',           'open() of the lookup map failed' ],
    [   -34, 'LOOKUP_BUT_NO_MAP',              'lookupButNoMap',              'lookup attempted with no map' ],
    [   -35, 'PERSISTENT_REMAP_FLAG',          'persistentRemapFlag',         'map still flagged stale after re-mapping' ],
    [   -43, 'EXCEEDED_RETRY_LIMIT',           'exceededRetryLimit',          'retry limit exceeded' ],
    [   -44, 'RETRY_NOT_ALLOWED',              'retryNotAllowed',             'failed and noRetry set' ],
    [   -45, 'REMOTE_NOT_ALLOWED',             'remoteNotAllowed',            'noRemote request reached a relay' ],
    [   -46, 'WRITE_EVENT_FOR_WRONG_FD',       'writeEventForWrongFD',        'bad fd given to sendCanWriteEvent' ],
    [   -47, 'READ_EVENT_FOR_WRONG_FD',        'readEventForWrongFD',         'bad fd given to sendCanReadEvent' ],
    [   -48, 'WRITE_EVENT_WRONG_STATE',        'writeEventWrongState',        'write event in the wrong state' ],
    [   -49, 'READ_EVENT_WRONG_STATE',         'readEventWrongState',         'read event in the wrong state' ],
    [   -51, 'OPEN_ACCEPT_SOCKET_FAILED',      'openAcceptSocketFailed',      'could not open plutonAcceptSocket' ],
    [   -52, 'MMAP_INHERITED_SHM_FD_FAILED',   'mmapInheritedShmFDFailed',    'could not map fd 4' ],
    [   -53, 'GET_REQUEST_NOT_NEXT',           'getRequestNotNext',           'getRequest out of sequence' ],
    [   -54, 'ACCEPT_FAILED',                  'acceptFailed',                'accept() failed' ],
    [   -55, 'NO_FAUX_STDIN',                  'noFauxSTDIN',                 'shell mode without fd 3' ],
    [   -56, 'WRONG_NS_TYPE',                  'wrongNSType',                 'unexpected netstring type' ],
    [   -57, 'REQUEST_DECODE_FAILED',          'requestDecodeFailed',         'request packet decode failed' ],
    [   -58, 'REQUEST_NET_STRING_PARSE_ERROR', 'requestNetStringParseError',  'request netstring parse failed' ],
    [   -59, 'SEND_RESPONSE_NOT_NEXT',         'sendResponseNotNext',         'sendResponse out of sequence' ],
    [   -60, 'SEND_RAW_RESPONSE_NOT_NEXT',     'sendRawResponseNotNext',      'sendRawResponse out of sequence' ],
    [   -61, 'NET_STRING_TOO_LARGE',           'netStringTooLarge',           'inbound netstring larger than the buffer may grow' ],
    [   -62, 'UNEXPECTED_EOF',                 'unexpectedEOF',               'EOF mid-packet' ],
    [   -63, 'BIND_FAILED',                    'bindFailed',                  'bind() failed' ],
    [   -64, 'UNLINK_FAILED',                  'unlinkFailed',                'unlink of the socket failed' ],
    [   -65, 'LISTEN_FAILED',                  'listenFailed',                'listen() failed' ],
    [   -66, 'EMPTY_IDENTIFIER',               'emptyIdentifier',             'empty params to openService' ],
    [   -67, 'POLL_INTERRUPTED',               'pollInterrupted',             'poll returned EINTR' ],
    [  -101, 'SHM_FSTAT_FAILED',               'shmFstatFailed',              'fstat of the map fd failed' ],
    [  -102, 'SHM_MMAP_FAILED',                'shmMmapFailed',               'mmap failed' ],
    [  -103, 'SHM_VERSION_MIS_MATCH',          'shmVersionMisMatch',          'shared-memory version differs' ],
    [  -104, 'SHM_THREAD_CONFIG_NOT_SERVICE',  'shmThreadConfigNotService',   'config is threaded but the service is not' ],
    [  -105, 'SHM_THREAD_SERVICE_NOT_CONFIG',  'shmThreadServiceNotConfig',   'service is threaded but the config is not' ],
    [  -106, 'SHM_PRE_WRITE_FAILED',           'shmPreWriteFailed',           'pre-extending the mmap file failed' ],
    [  -107, 'SHM_IMPOSSIBLY_SMALL',           'shmImpossiblySmall',          'lookup map file too small' ],
    [  -998, 'SERIOUS_INTERNAL_OS_ERROR',      'seriousInternalOSError',      'a system call failed unexpectedly' ],
    [  -999, 'SERIOUS_INTERNAL_ROUTING_ERROR', 'seriousInternalRoutingError', 'response for the wrong client' ],
    );
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
C<use Pluton::Fault qw(:codes)>:

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
