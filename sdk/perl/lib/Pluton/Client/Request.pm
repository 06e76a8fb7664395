package Pluton::Client::Request;

use strict;
use warnings;

use Carp ();
use Pluton::Fault;

our $VERSION = '0.1.0';

our @ATTRIBUTES = qw(no_wait no_remote no_retry keep_affinity need_affinity);
my %IS_ATTRIBUTE = map { $_ => 1 } @ATTRIBUTES;

# new($key, $data, %opt) or new(key => ..., data => ..., %opt)
# %opt: context => { k => v } or [ k => v, ... ], timeout_ms (else the
#       client's), no_wait, no_remote, no_retry, keep_affinity, need_affinity,
#       handle
sub new {    ## no critic (RequireArgUnpacking)
    my $class = shift;
    my %o;
    if (@_ % 2) {
        my $key = shift;
        %o = (@_, key => $key);
    }
    elsif (@_ >= 2 && !_is_option($_[0])) {
        my ($key, $data) = splice @_, 0, 2;
        %o = (@_, key => $key, data => $data);
    }
    else {
        %o = @_;
    }
    my $self = bless {}, $class;
    $self->_clear;
    $self->{key}    = $o{key};
    $self->{data}   = defined $o{data} ? $o{data} : '';
    $self->{handle} = $o{handle};
    $self->{timeout_ms} = defined $o{timeout} ? Pluton::Client::_ms($o{timeout})
                        : defined $o{timeout_ms} ? int $o{timeout_ms} : undef;
    for my $a (@ATTRIBUTES) {
        $self->{attr}{$a} = $o{$a} ? 1 : 0;
    }
    if (my $c = $o{context}) {
        my @pairs = ref $c eq 'HASH'  ? (map { ($_, $c->{$_}) } sort keys %$c)
                  : ref $c eq 'ARRAY' ? @$c
                  : Carp::croak('context must be a hash or array reference');
        while (@pairs) {
            my ($k, $v) = splice @pairs, 0, 2;
            $self->set_context($k, $v);
        }
    }
    return $self;
}

sub _is_option {
    my $k = shift;
    return defined $k && !ref $k
        && ($k eq 'key' || $k eq 'data' || $k eq 'context' || $k eq 'handle' || $k eq 'timeout_ms' || $k eq 'timeout'
            || $IS_ATTRIBUTE{$k});
}

sub _clear {
    my $self = shift;
    $self->{context}     = [];
    $self->{bad_context} = undef;
    $self->{response}    = '';
    $self->{service_name} = '';
    $self->{fault}       = Pluton::Fault->new(Pluton::Fault::REQUEST_NOT_ADDED, 'request not added');
    $self->{in_progress} = 0;
    $self->{attr}        = { map { $_ => 0 } @ATTRIBUTES };
    return;
}

# reset: clears everything, closes an affinity connection.
sub reset {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    if ($self->{client} && $self->{in_progress}) {
        $self->{client}->_abandon($self);
    }
    $self->_close_affinity;
    $self->_close_socket;
    %$self = ();
    $self->_clear;
    $self->{data} = '';
    return $self;
}

sub key { my $self = shift; return $self->{key} }
sub set_key { my ($self, $value) = @_; $self->{key} = $value; return $self; }

sub data { my $self = shift; return $self->{data} }
sub request_data { my $self = shift; return $self->{data} }
sub set_request_data {
    my ($self, $d) = @_;
    $self->{data} = defined $d ? $d : '';
    return $self;
}

# The request's own timeout in ms (undef: the client's timeout_ms).
sub timeout_ms     { my $self = shift; return $self->{timeout_ms} }
sub set_timeout_ms { my ($self, $value) = @_; $self->{timeout_ms} = defined $value ? int($value) : undef; return $self; }

sub handle     { my $self = shift; return $self->{handle} }
sub set_handle { my ($self, $value) = @_; $self->{handle} = $value; return $self; }
sub client_handle     { goto &handle }
sub set_client_handle { goto &set_handle }

# set_context($key, $value): false for keys in the reserved 'pluton.' namespace
# (the request's fault becomes contextReservedNamespace, -23).
sub set_context {
    my ($self, $k, $v) = @_;
    $k = '' unless defined $k;
    $v = '' unless defined $v;
    if (index($k, 'pluton.') == 0) {
        $self->{bad_context} = $k;
        $self->{fault} = Pluton::Fault->new(Pluton::Fault::CONTEXT_RESERVED_NAMESPACE,
            "Context Key uses reserved prefix of 'pluton.'");
        return 0;
    }
    push @{ $self->{context} }, $k, $v;
    return 1;
}

# The context pairs as set, in order.
sub context_pairs { my $self = shift; return @{ $self->{context} } }

sub context {
    my ($self, $k) = @_;
    my @p = @{ $self->{context} };
    my $v;
    while (@p) {
        my ($pk, $pv) = splice @p, 0, 2;
        $v = $pv if $pk eq $k;
    }
    return $v;
}

sub set_attribute {
    my ($self, $a, $on) = @_;
    Carp::croak("unknown attribute '$a'") unless $IS_ATTRIBUTE{$a};
    $self->{attr}{$a} = (@_ > 2 ? ($on ? 1 : 0) : 1);
    return $self;
}
sub clear_attribute { my ($self, $value) = @_; return $self->set_attribute($value, 0) }
sub attribute {
    my ($self, $a) = @_;
    Carp::croak("unknown attribute '$a'") unless $IS_ATTRIBUTE{$a};
    return $self->{attr}{$a};
}

for my $a (@ATTRIBUTES) {
    no strict 'refs';    ## no critic (ProhibitNoStrict)
    *{"Pluton::Client::Request::$a"} = sub {
        my $self = shift;
        $self->{attr}{$a} = $_[0] ? 1 : 0 if @_;
        return $self->{attr}{$a};
    };
}

sub in_progress  { my $self = shift; return $self->{in_progress} }
sub has_fault    { my $self = shift; return $self->{fault}->code != 0 ? 1 : 0 }
sub fault        { my $self = shift; return $self->{fault} }
sub fault_code   { my $self = shift; return $self->{fault}->code }
sub fault_text   { my $self = shift; return $self->{fault}->text }
sub service_name { my $self = shift; return $self->{service_name} }

# The response data ('' on a fault).
sub response      { my $self = shift; return $self->{response} }
sub response_data { my $self = shift; return $self->{response} }

# True while an affinity connection is held by this request.
sub has_affinity { my $self = shift; return $self->{affinity_sock} ? 1 : 0 }

sub _close_socket {
    my $self = shift;
    if ($self->{sock} && (!$self->{affinity_sock} || $self->{sock} != $self->{affinity_sock})) {
        close($self->{sock});
    }
    $self->{sock} = undef;
    return;
}

sub _close_affinity {
    my $self = shift;
    if ($self->{affinity_sock}) {
        close($self->{affinity_sock});
        $self->{sock} = undef if $self->{sock} && $self->{sock} == $self->{affinity_sock};
        $self->{affinity_sock} = undef;
    }
    return;
}

sub DESTROY {
    my $self = shift;
    local ($@, $!);
    $self->_close_affinity;
    $self->_close_socket;
    return;
}

1;

__END__

=head1 NAME

Pluton::Client::Request - one request (and its response) of a Pluton client

=head1 SYNOPSIS

    my $r = Pluton::Client::Request->new('system.echo.0.raw', 'Hello',
        context => { 'echo.sleepMS' => 5 }, timeout => 0.5, no_retry => 1);
    $client->add_request($r) or die $r->fault;
    $client->wait_one($r);
    print $r->has_fault ? $r->fault->message : $r->response;

=head1 DESCRIPTION

The request objects that L<Pluton::Client>'s C<add_request> and waits run
(C<call> and C<submit> make them for you). A new request has the fault
C<requestNotAdded> (-3); while in flight C<requestInProgress> (-5); when
done, C<noFault> or the fault of the exchange. An object can be sent again
once it is done; with C<keep_affinity> it keeps its connection for that.

=head1 METHODS

=head2 new

    Pluton::Client::Request->new($key, $data, %options)
    Pluton::Client::Request->new(key => $key, data => $data, %options)

Options: C<context> (hash or array reference), C<timeout> (seconds) or
C<timeout_ms>, C<handle> (caller data), and the attributes as booleans:
C<no_wait> (complete once a service instance has read the request; no
response), C<no_remote>, C<no_retry>, C<keep_affinity> (keep the connection
for the next use of this object; requires C<no_retry>, forbids C<no_wait>)
and C<need_affinity> (fail with C<noAffinity> unless this object holds an
affinity connection).

=head2 key, set_key

The service key.

=head2 data, request_data, set_request_data

The request data.

=head2 timeout_ms, set_timeout_ms

The request's own timeout in milliseconds (undef: the client's).

=head2 set_context

    $r->set_context($name, $value)

Adds a context entry. False for names in the reserved C<pluton.> namespace
(the request's fault becomes C<contextReservedNamespace>, -23).

=head2 context

The value set for a name (the last one), or undef.

=head2 context_pairs

The context entries as set, name/value pairs in order.

=head2 set_attribute, clear_attribute, attribute

    $r->set_attribute('no_retry');  $r->clear_attribute('no_retry');  $r->attribute('no_retry');

The attributes by name (see L</new>); croaks for an unknown one.

=head2 no_wait, no_remote, no_retry, keep_affinity, need_affinity

Each attribute as an accessor: C<< $r->no_retry(1) >> sets it, C<< $r->no_retry >>
reads it.

=head2 handle, set_handle, client_handle, set_client_handle

Caller data kept with the request.

=head2 in_progress

True between C<add_request> and completion.

=head2 has_fault, fault, fault_code, fault_text

The request's fault (a L<Pluton::Fault>) and its parts; C<has_fault> is
false for C<noFault>.

=head2 response, response_data

The response data ('' on a fault).

=head2 service_name

The response's service name, C<< <name>:<pid>/0 >>.

=head2 has_affinity

True while the object holds an affinity connection.

=head2 reset

Clears everything (closing an affinity connection) and takes the request
out of its client.

=cut
