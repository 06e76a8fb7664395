use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use Time::HiRes qw(sleep);

# tools/dist/perl.sh builds the tarball with MakeMaker's `make dist`; it
# holds META.json, META.yml, MANIFEST, LICENSE and Changes, unpacks, passes
# `make test`, installs to a temporary INSTALL_BASE, and the installed SDK
# serves requests stand-alone, in accept mode and under a real plutonManager.
# Skipped outside the repository (e.g. in the tarball).

my $root   = dist_root();
my $script = "$root/../../tools/dist/perl.sh";
plan skip_all => 'not in the Pluton repository' unless -f $script && -f "$root/../../go/version/VERSION";
plan skip_all => 'make is not installed' unless grep { -x "$_/make" } split /:/, $ENV{PATH};

my $tmp = temp_dir();
# a clean environment for the nested build: nothing of this checkout on @INC
delete $ENV{$_} for qw(PERL5LIB PERLLIB PERL5OPT PERL_MM_OPT PERL_MB_OPT PERL_LOCAL_LIB_ROOT
                             MAKEFLAGS MAKELEVEL MFLAGS);

sub run_log {
    my ($log, @cmd) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>>', $log) or die;
        open(STDERR, '>&', \*STDOUT) or die;
        open(STDIN, '<', '/dev/null');
        exec(@cmd) or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return $?;
}

sub tail { my @l = split /\n/, slurp(shift); join "\n", @l > 40 ? @l[-40 .. -1] : @l }

# the version of go/version/VERSION
open(my $vf, '<', "$root/../../go/version/VERSION") or die;
(my $repo_version = <$vf>) =~ s/\s+//g;
close $vf;
my $log = "$tmp/build.log";
{
    local $ENV{DIST_DIR} = "$tmp/default";
    is(run_log($log, 'bash', $script), 0, 'perl.sh with the repository version') or diag tail($log);
}
ok(-f "$tmp/default/Pluton-$repo_version.tar.gz", "Pluton-$repo_version.tar.gz");

# a stamped version, built and installed
my $v = '9.8.7';
{
    local $ENV{PLUTON_DIST_VERSION} = $v;
    local $ENV{DIST_DIR} = "$tmp/out";
    is(run_log($log, 'bash', $script), 0, 'perl.sh with PLUTON_DIST_VERSION') or diag tail($log);
}
my $tarball = "$tmp/out/Pluton-$v.tar.gz";
ok(-f $tarball, 'the tarball') or BAIL_OUT('no tarball');
is(run_log($log, 'tar', '-C', $tmp, '-xzf', $tarball), 0, 'unpacks');
my $d = "$tmp/Pluton-$v";
ok(-f "$d/Makefile.PL" && -f "$d/MANIFEST", 'into Pluton-<v>/');
ok(!-e "$d/Makefile" && !-e "$d/blib" && !-e "$d/BUILD.bazel", 'no build products inside');
ok(-f "$d/$_", "the tarball has $_") for qw(META.json META.yml MANIFEST LICENSE Changes README.md);
like(slurp("$d/META.json"), qr/"version" : "v?9\.8\.7"/, 'META.json has the version');
like(slurp("$d/META.json"), qr/"license" : \[\s*"bsd"/, 'and the license');
like(slurp("$d/META.yml"), qr/^license: bsd$/m, 'META.yml too');
like(slurp("$d/LICENSE"), qr/BSD 3-Clause License.*The Pluton for Go authors/s, 'LICENSE is BSD-3-Clause');
like(slurp("$d/lib/Pluton.pm"), qr/^our \$VERSION = '9\.8\.7';$/m, 'version stamped in lib/Pluton.pm');
unlike(slurp("$root/lib/Pluton.pm"), qr/9\.8\.7/, 'the checkout is untouched');

my $inst = "$tmp/inst";
{
    require Cwd;
    my $cwd = Cwd::getcwd();
    chdir $d or die;
    is(run_log($log, $^X, 'Makefile.PL', "INSTALL_BASE=$inst"), 0, 'perl Makefile.PL') or diag tail($log);
    like(slurp($log), qr/Writing Makefile for Pluton/, 'Makefile for Pluton');
    is(run_log($log, 'make'), 0, 'make') or diag tail($log);
    # The whole suite runs in this checkout; inside the tarball a part of it
    # shows that the unpacked distribution tests (t/manifest.t checks that
    # every file is there).
    my $tlog = "$tmp/test.log";
    is(run_log($tlog, 'make', 'test', 'TEST_FILES=t/00-load.t t/manifest.t t/packet.t t/standalone.t t/pod.t'), 0,
        'make test') or diag tail($tlog);
    like(slurp($tlog), qr/^Result: PASS$/m, 'the suite passed inside the tarball') or diag tail($tlog);
    is(run_log($log, 'make', 'install'), 0, 'make install') or diag tail($log);
    chdir $cwd or die;
}
my $installed = "$inst/lib/perl5";
ok(-f "$installed/Pluton/Service.pm", 'installed under INSTALL_BASE');
like(slurp("$installed/Pluton.pm"), qr/^our \$VERSION = '9\.8\.7';$/m, 'installed version');

# only the installed copy from here on: move the unpacked lib away
rename("$d/lib", "$d/lib.gone") or die "rename: $!";
local $ENV{PERL5LIB} = $installed;
my $which = `$^X -MPluton::Service -e 'print \$INC{"Pluton/Service.pm"}, " ", \$Pluton::VERSION // ""'`;
like($which, qr/^\Q$installed\E\/Pluton\/Service\.pm/, 'modules load from the install');

# the echo example, stand-alone, on the installed modules
{
    my $in = "$tmp/req";
    open(my $fh, '>', $in) or die;
    print $fh "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n";
    close $fh;
    open(my $ifh, '<', $in) or die;
    open(my $ofh, '>', "$tmp/resp") or die;
    my $pid = spawn_echo(script => "$d/examples/echo.pl", lib => undef, fds => { 3 => $ifh, 4 => $ofh },
        stderr => "$tmp/echo.err");
    is(wait_exit($pid, 20), 0, 'installed echo exits 0') or diag slurp("$tmp/echo.err");
    is(slurp("$tmp/resp"), "0A,3b100,12aplSend:26446," . length("echo:$pid/0") . "secho:$pid/0,5qHello,0z\n",
        'installed echo answers');
}

# accept mode, with the installed client calling the installed echo
{
    my $sock = "$tmp/system.echo.0.raw.socket";
    my $pid = spawn_echo(script => "$d/examples/echo.pl", lib => undef,
        env => { plutonAcceptSocket => $sock }, stderr => "$tmp/echo.err");
    ok(wait_until(10, sub { -S $sock }), 'installed echo listens');
    my $out = `$^X -MPluton::Client -e 'print Pluton::Client->new(lookup => shift)->call("system.echo.0.raw", "via install")' $tmp`;
    is($out, 'via install', 'installed client calls installed echo');
    kill 'TERM', $pid;
    is(wait_exit($pid, 5), 0, 'ends on SIGTERM with exit 0');
}

# under a real plutonManager: a handler-form service from the install
SKIP: {
    my $bin = $ENV{PLUTON_BIN} || "$root/../../bin";
    skip "no $bin/plutonManager (make build)", 4 unless -x "$bin/plutonManager";
    my $m = "$tmp/mgr";
    mkdir $m; mkdir "$m/config"; mkdir "$m/rendezvous";
    open(my $fh, '>', "$m/svc.pl") or die;
    print $fh "use strict; use warnings; use Pluton::Service;\n"
        . "Pluton::Service->new('upper')->serve(sub { return uc \$_[0]->data });\n";
    close $fh;
    open($fh, '>', "$m/config/dist.upper.0.raw") or die;
    print $fh "exec $^X -I$installed $m/svc.pl\nminimum-processes 1\nmaximum-processes 2\n";
    close $fh;
    my $mgr = fork // die;
    if (!$mgr) {
        open(STDOUT, '>', "$m/manager.log"); open(STDERR, '>&', \*STDOUT);
        exec("$bin/plutonManager", '-C', "$m/config", '-R', "$m/rendezvous", '-L', "$m/lookup.map")
            or POSIX::_exit(127);
    }
    my $reply;
    wait_until(20, sub {
        $reply = `$^X -MPluton::Client -e 'print Pluton::Client->new(lookup => shift, timeout => 2)->call("dist.upper.0.raw", "served")' $m/lookup.map 2>/dev/null`;
        $reply eq 'SERVED';
    });
    is($reply, 'SERVED', 'the installed SDK serves a request under plutonManager') or diag slurp("$m/manager.log");
    my $fault = `$^X -MPluton::Client -e 'eval { Pluton::Client->new(lookup => shift)->call("dist.nosuch.0.raw", "x") }; print \$\@->code' $m/lookup.map`;
    is($fault, -30, 'an unknown key: serviceNotFound');
    kill 'TERM', $mgr;
    is(wait_exit($mgr, 15), 0, 'the manager stops');
    unlike(slurp("$m/manager.log"), qr/handler died|Pluton::Service: /, 'nothing wrong in the log');
}

done_testing;
