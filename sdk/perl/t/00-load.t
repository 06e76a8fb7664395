use strict;
use warnings;
use Test::More;

for my $m (qw(Pluton Pluton::BinaryMap Pluton::Compat::Client Pluton::Compat::ClientRequest Pluton::Fault Pluton::Fault::Timeout Pluton::Fault::Service Pluton::ServiceKey Pluton::Packet Pluton::Packet::Decoder Pluton::Stats Pluton::Stats::Report Pluton::Recorder Pluton::Request Pluton::Compat::Service Yahoo::pluton Pluton::Client::Call
              Pluton::Service Pluton::Client Pluton::Client::Request)) {
    use_ok($m);
}
like($Pluton::VERSION, qr/^\d+\.\d+\.\d+/, 'Pluton has a version');
is(Pluton::Service->api_version, $Pluton::Service::VERSION, 'service api_version');
is(Pluton::Client->api_version, $Pluton::Client::VERSION, 'client api_version');

done_testing;
