package Pluton::Request;

use strict;
use warnings;

use Carp ();
use Time::HiRes ();

use Pluton::Fault;
use Pluton::Packet;
use Pluton::ServiceKey;

our $VERSION = '0.1.0';

# A request handed to the service's code, made by Pluton::Service only:
# { f => the packet's fields (type => payload), s => the service, t => when
# it was handed over, k => the key object, c => its connection (or fh => the
# connection's handle alone, from serve's fast path), answered => 1 once
# answered }.

sub data {    ## no critic (RequireArgUnpacking)
    return defined $_[0]{f}{k} ? $_[0]{f}{k} : q{};
}

sub key {
    my $self = shift;
    return $self->{k};
}

sub client_name {
    my $self = shift;
    my $n = $self->{f}{a};
    return defined $n ? $n : q{};
}

sub id {
    my $self = shift;
    return Pluton::Packet::number($self->{f}{b});
}

sub timeout_ms {
    my $self = shift;
    return Pluton::Packet::number($self->{f}{l});
}

sub remaining {
    my $self = shift;
    my $ms = Pluton::Packet::number($self->{f}{l});
    return undef if $ms <= 0;    ## no critic (ProhibitExplicitReturnUndef)
    my $left = $ms / 1000 - (Time::HiRes::time() - $self->{t});
    return $left > 0 ? $left : 0;
}

sub no_wait       { my $self = shift; return exists $self->{f}{e} ? 1 : 0 }
sub no_remote     { my $self = shift; return exists $self->{f}{f} ? 1 : 0 }
sub no_retry      { my $self = shift; return exists $self->{f}{g} ? 1 : 0 }
sub keep_affinity { my $self = shift; return exists $self->{f}{h} ? 1 : 0 }
sub need_affinity { my $self = shift; return exists $self->{f}{i} ? 1 : 0 }

sub context {    ## no critic (RequireArgUnpacking)
    # the common cases first, without copying the arguments: decoded
    # already, or no context in the request
    return $_[0]{ctx}{ $_[1] } if $_[0]{ctx};
    return undef unless defined $_[0]{f}{j};    ## no critic (ProhibitExplicitReturnUndef)
    my ($self, $name) = @_;
    my $ctx = $self->{ctx};
    if (!$ctx) {
        my $payload = $self->{f}{j};
        $ctx = eval { Pluton::Packet::decode_context($payload) };
        if (!$ctx) {
            (my $e = $@) =~ s/\n\z//;
            die Pluton::Fault->new(code => Pluton::Fault::CONTEXT_FORMAT_ERROR, text => $e);
        }
        $self->{ctx} = $ctx;
    }
    return $ctx->{$name};
}

sub context_names {
    my $self = shift;
    return () unless $self->{ctx} || defined $self->{f}{j};    # no context: the common case
    $self->context(q{});
    return sort keys %{ $self->{ctx} || {} };    ## no critic (ProhibitReturnSort)
}

sub answered {
    my $self = shift;
    return $self->{answered} ? 1 : 0;
}

sub respond {    ## no critic (RequireArgUnpacking)
    my $self = shift;
    Carp::croak('this request was answered already') if $self->{answered};
    return $self->{s}->_answer($self, 0, q{}, q{}) unless defined $_[0];
    if (utf8::is_utf8($_[0])) {
        my $data = $_[0];
        utf8::encode($data);
        return $self->{s}->_answer($self, 0, q{}, $data);
    }
    return $self->{s}->_answer($self, 0, q{}, $_[0]);    # the caller's bytes, not a copy
}

sub fault {
    my ($self, $code, $text) = @_;
    Carp::croak('this request was answered already') if $self->{answered};
    $code = defined $code ? int $code : 0;
    $text = defined $text ? "$text" : q{};
    utf8::encode($text) if utf8::is_utf8($text);
    return $self->{s}->_answer($self, $code, $text, q{});
}

1;

__END__

=head1 NAME

Pluton::Request - one request handed to a service

=head1 SYNOPSIS

    while (my $request = $service->next) {
        my $ms = $request->context('echo.sleepMS');      # undef if absent
        if (defined $ms && $ms < 0) {
            $request->fault(111, 'sleep time negative');
            next;
        }
        $request->respond($request->data);
    }

=head1 DESCRIPTION

A request comes from L<Pluton::Service>'s C<next> (loop form) or is passed to
the handler of C<serve> (handler form). It is answered exactly once, with
C<respond> or C<fault>; in the handler form returning from the handler
answers it too.

=head1 METHODS

=head2 data

The request data, as bytes ('' when there is none).

=head2 key

The service key the client asked for, a L<Pluton::ServiceKey>: it
stringifies to the key (C<system.echo.0.raw>) and has C<application>,
C<function>, C<version> and C<serialization>. Under a wildcard configuration
this is the client's key, with the real function.

=head2 client_name

The client's name, C<< <name>:<pid> >> ('' when the client sent none, as
plTest does).

=head2 id

The request id the client chose (a number).

=head2 timeout_ms

The client's timeout in milliseconds as it sent it (0 for none).

=head2 remaining

The seconds left of the client's timeout, counted from when the request was
read (0 once it has passed), or undef when the client set no timeout.

=head2 context

    my $value = $request->context('name');

The value of one context entry the client sent, or undef when it is absent.
A malformed context payload dies with a L<Pluton::Fault> of code -22
(C<CONTEXT_FORMAT_ERROR>) whose text is the decoder's message; in the
handler form, left uncaught, that fault is what the client gets.

=head2 context_names

The names of the context entries, sorted (dies as C<context>).

=head2 no_wait

True when the client does not wait for the response (it is not sent; the
connection was closed as soon as the request was read).

=head2 keep_affinity

True when the client keeps the connection for its next request.

=head2 no_remote, no_retry, need_affinity

The other attributes the client set, as flags.

=head2 respond

    $request->respond($bytes);

Sends the response. Text with the UTF-8 flag is sent encoded as UTF-8;
undef is an empty response. Returns true, or false when the response could
not be written: either its client took none of it for
C<request-read-timeout> and was dropped (the service goes on), or writing
failed otherwise (the service then stops: the next C<next> returns undef).
Dies if the request was answered already.

=head2 fault

    $request->fault($code, $text);

Sends a fault instead of a response. Codes 1 to 10 are reserved (see
L<Pluton::Fault>); use your own above 10. Returns and dies as C<respond>.

=head2 answered

True once C<respond> or C<fault> was called.

=cut
