use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;

# The README's quick start, run literally: its sh blocks in one bash, each
# block with a file name (```perl upper.pl) written to that file where it
# appears, and its ```text output block expected in what the commands print.
# Needs the repository (tools/dist/perl.sh, make build) and make.

my $root = dist_root();
my $repo = "$root/../..";
plan skip_all => 'not in the Pluton repository' unless -f "$repo/tools/dist/perl.sh" && -f "$repo/go.mod";
plan skip_all => 'make is not installed' unless grep { -x "$_/make" } split /:/, $ENV{PATH};

my $readme = slurp("$root/README.md");
my ($quick) = $readme =~ /^## Quick start\n(.*?)^## /ms;
ok(defined $quick, 'the README has a quick start') or BAIL_OUT('no quick start');

my $script = "set -eu\ntrap 'if [ -n \"\${MANAGER:-}\" ]; then kill \$MANAGER 2>/dev/null || true; fi' EXIT\n";
my @expected;
my ($files, $shells) = (0, 0);
while ($quick =~ /^```(\S*)[ \t]*(\S*)\n(.*?)^```\n/msg) {
    my ($lang, $name, $body) = ($1, $2, $3);
    if ($lang eq 'sh') {
        $script .= $body;
        $shells++;
    }
    elsif ($lang eq 'text' && $name eq 'output') {
        push @expected, $body;
    }
    elsif (length $name) {
        $script .= "cat > '$name' <<'PLUTON_README_EOF'\n${body}PLUTON_README_EOF\n";
        $files++;
    }
}
ok($shells >= 3 && $files >= 3 && @expected == 1, "sh blocks ($shells), files ($files) and the output");

my $tmp = temp_dir();
open(my $fh, '>', "$tmp/quickstart.sh") or die;
print $fh $script;
close $fh;
delete $ENV{$_} for qw(PERL5LIB PERLLIB PERL5OPT PERL_MM_OPT PERL_MB_OPT PERL_LOCAL_LIB_ROOT
                       MAKEFLAGS MAKELEVEL MFLAGS plutonLookupMap);
local $ENV{TMPDIR} = $tmp;
my $out = `cd $repo && bash $tmp/quickstart.sh 2>$tmp/stderr`;
is($?, 0, 'the quick start runs without an error') or diag slurp("$tmp/stderr");
like($out, qr/^\Q$expected[0]\E/m, 'and prints what the README says') or diag $out;

done_testing;
