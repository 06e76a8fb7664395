package Pluton::Fault;

use strict;
use warnings;

use overload
    '""'     => sub { $_[0]->message },
    'bool'   => sub { 1 },
    fallback => 1;

our $VERSION = '0.1.0';

# code => [ name, english ]  (the original's include/pluton/fault.h table)
my %TABLE = (
    0    => [ noFault                     => 'no fault' ],
    1    => [ deserializeFailed           => 'the service could not de-serialize the request' ],
    2    => [ unknownFunction             => 'a wildcard service got a function it does not know' ],
    3    => [ requestTooLarge             => 'request too large' ],
    4    => [ remoteConnectFailed         => 'proxy could not reach the remote host' ],
    5    => [ remoteTransferFailed        => 'proxy transfer failed part-way' ],
    10   => [ lastReservedUserFault       => 'top of the reserved user range' ],
    -1   => [ alreadyInitialized          => 'initialize called twice' ],
    -2   => [ notInitialized              => 'a call made before initialize' ],
    -3   => [ requestNotAdded             => 'request was never added' ],
    -4   => [ requestAlreadyAdded         => 'request added twice' ],
    -5   => [ requestInProgress           => 'request not yet fully sent' ],
    -6   => [ responseInProgress          => 'response not yet read' ],
    -7   => [ unimplemented               => 'method not implemented' ],
    -8   => [ badRequestLength            => 'request length < 0' ],
    -9   => [ noAffinity                  => 'needAffinity without an affinity connection' ],
    -10  => [ noWaitNotAllowed            => 'noWait together with keepAffinity' ],
    -11  => [ needNoRetry                 => 'keepAffinity requires noRetry' ],
    -15  => [ openSocketFailed            => 'socket() failed' ],
    -16  => [ connectFailed               => 'connect() failed' ],
    -17  => [ socketWriteFailed           => 'socket write failed' ],
    -18  => [ socketReadFailed            => 'socket read failed' ],
    -19  => [ serviceTimeout              => 'client timeout expired' ],
    -20  => [ incompleteResponse          => 'service closed with the response unfinished' ],
    -21  => [ responsePacketFormatError   => 'response packet invalid' ],
    -22  => [ contextFormatError          => 'context malformed' ],
    -23  => [ contextReservedNamespace    => 'context key uses the pluton. prefix' ],
    -24  => [ setsockoptFailed            => 'setsockopt failed' ],
    -25  => [ fcntlFailed                 => 'fcntl failed' ],
    -30  => [ serviceNotFound             => 'ServiceKey is not in lookupMap' ],
    -31  => [ serviceKeyBad               => 'ServiceKey badly formed' ],
    -32  => [ mapInitializationFailed     => 'could not open the lookup map' ],
    -33  => [ openForMmapFailed           => 'open() of the lookup map failed' ],
    -34  => [ lookupButNoMap              => 'lookup attempted with no map' ],
    -35  => [ persistentRemapFlag         => 'map still flagged stale after re-mapping' ],
    -43  => [ exceededRetryLimit          => 'retry limit exceeded' ],
    -44  => [ retryNotAllowed             => 'failed and noRetry set' ],
    -45  => [ remoteNotAllowed            => 'noRemote request reached a relay' ],
    -46  => [ writeEventForWrongFD        => 'bad fd given to sendCanWriteEvent' ],
    -47  => [ readEventForWrongFD         => 'bad fd given to sendCanReadEvent' ],
    -48  => [ writeEventWrongState        => 'write event in the wrong state' ],
    -49  => [ readEventWrongState         => 'read event in the wrong state' ],
    -51  => [ openAcceptSocketFailed      => 'could not open plutonAcceptSocket' ],
    -52  => [ mmapInheritedShmFDFailed    => 'could not map fd 4' ],
    -53  => [ getRequestNotNext           => 'getRequest out of sequence' ],
    -54  => [ acceptFailed                => 'accept() failed' ],
    -55  => [ noFauxSTDIN                 => 'shell mode without fd 3' ],
    -56  => [ wrongNSType                 => 'unexpected netstring type' ],
    -57  => [ requestDecodeFailed         => 'request packet decode failed' ],
    -58  => [ requestNetStringParseError  => 'request netstring parse failed' ],
    -59  => [ sendResponseNotNext         => 'sendResponse out of sequence' ],
    -60  => [ sendRawResponseNotNext      => 'sendRawResponse out of sequence' ],
    -61  => [ netStringTooLarge           => 'inbound netstring larger than the buffer may grow' ],
    -62  => [ unexpectedEOF               => 'EOF mid-packet' ],
    -63  => [ bindFailed                  => 'bind() failed' ],
    -64  => [ unlinkFailed                => 'unlink of the socket failed' ],
    -65  => [ listenFailed                => 'listen() failed' ],
    -66  => [ emptyIdentifier             => 'empty params to openService' ],
    -67  => [ pollInterrupted             => 'poll returned EINTR' ],
    -101 => [ shmFstatFailed              => 'fstat of the map fd failed' ],
    -102 => [ shmMmapFailed               => 'mmap failed' ],
    -103 => [ shmVersionMisMatch          => 'shared-memory version differs' ],
    -104 => [ shmThreadConfigNotService   => 'config is threaded but the service is not' ],
    -105 => [ shmThreadServiceNotConfig   => 'service is threaded but the config is not' ],
    -106 => [ shmPreWriteFailed           => 'pre-extending the mmap file failed' ],
    -107 => [ shmImpossiblySmall          => 'lookup map file too small' ],
    -998 => [ seriousInternalOSError      => 'a system call failed unexpectedly' ],
    -999 => [ seriousInternalRoutingError => 'response for the wrong client' ],
);

our %CODES = map { $TABLE{$_}[0] => $_ } keys %TABLE;

# Constant subs: Pluton::Fault::serviceTimeout() == -19, etc.
for my $code (keys %TABLE) {
    my $name = $TABLE{$code}[0];
    no strict 'refs';
    *{"Pluton::Fault::$name"} = sub () { $code };
}

sub new {
    my ($class, $code, $text, %opt) = @_;
    $code = 0 unless defined $code;
    my $self = bless {
        code => 0 + $code,
        text => defined $text ? "$text" : '',
    }, $class;
    $self->{errno} = 0 + $opt{errno} if $opt{errno};
    return $self;
}

sub throw {
    my $class = shift;
    die $class->new(@_);
}

sub code   { $_[0]{code} }
sub text   { $_[0]{text} }
sub errno  { $_[0]{errno} }
sub is_system { $_[0]{code} < 0 }

sub name {
    my $self = shift;
    my $c = ref $self ? $self->{code} : shift;
    return exists $TABLE{$c} ? $TABLE{$c}[0] : '';
}

sub english {
    my $self = shift;
    my $c = ref $self ? $self->{code} : shift;
    return exists $TABLE{$c} ? $TABLE{$c}[1] : '';
}

sub code_for {
    my ($class, $name) = @_;
    return $CODES{$name};
}

# The original's format:
# [<pre> ]pluton::Fault=<code>[ (<name>:<english>)][ errno=<n>:<strerror>][ '<text>']
sub message {
    my ($self, $pre, $long) = @_;
    $long = 1 unless defined $long;
    my $m = '';
    $m .= "$pre " if defined $pre && length $pre;
    $m .= "pluton::Fault=$self->{code}";
    if ($long && exists $TABLE{ $self->{code} }) {
        $m .= " ($TABLE{$self->{code}}[0]:$TABLE{$self->{code}}[1])";
    }
    if ($self->{errno}) {
        local $! = $self->{errno};
        $m .= " errno=$self->{errno}:$!";
    }
    $m .= " '$self->{text}'" if length $self->{text};
    return $m;
}

1;

__END__

=head1 NAME

Pluton::Fault - a fault: the error object of Pluton

=head1 SYNOPSIS

    use Pluton::Client;
    my $reply = eval { $client->call('system.echo.0.raw', 'hi') };
    if (my $f = $@) {
        die $f unless ref $f && $f->isa('Pluton::Fault');
        printf "%d %s: %s\n", $f->code, $f->name, $f->text;
        print $f->message, "\n";    # pluton::Fault=-19 (serviceTimeout:...) 'service timeout'
    }

    Pluton::Fault::serviceTimeout();          # -19
    Pluton::Fault->code_for('serviceNotFound'); # -30

=head1 DESCRIPTION

A fault has a numeric C<code>, a C<name> (empty for codes outside the table,
such as a service's own codes above 10), a C<text> and a C<message> in the
original Pluton's long format. Codes below 0 are system faults, 0 is
C<noFault>, 1 to 10 are reserved service faults, and codes above 10 belong to
services. The object stringifies to its message.

=head1 METHODS

C<new($code, $text)>, C<throw($code, $text)>, C<code>, C<name>, C<english>,
C<text>, C<message([$prefix [, $long]])>, C<is_system>, C<code_for($name)>.

=cut
