# The fuzz corpora (t/fuzz/corpus/<target>/) through the fuzz targets built
# without libFuzzer (build/fuzz-<target>-replay, made by make with the
# compiler of the rest, see t/unit/fuzz_replay.c): every input once
# through the real frame parser, codec, handshake, WebSocket and protocol
# code, on the fake nginx runtime.  Under TEST_NGINX_USE_VALGRIND (make
# test-valgrind) the replays run under valgrind memcheck.
#
# The reproducers of t/fuzz/crashes/ (named <target>-...) run too: bugs
# of src/ the fuzzers found, fixed since (t/fuzz/crashes/README).

use strict;
use warnings;

use FindBin;

my $root = "$FindBin::Bin/..";
my @targets = qw(frame request record connection);
my @crashes = sort grep { !/README$/ } glob "$root/t/fuzz/crashes/*";

my @valgrind;
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    @valgrind = ('valgrind', '-q', '--error-exitcode=9', '--leak-check=full',
                 '--errors-for-leak-kinds=definite,indirect');
}

printf "1..%d\n", @targets + @crashes;

my $n = 0;

# runs the replay of $target on @inputs; returns (exit status, output)
sub replay {
    my ($target, $env, @inputs) = @_;
    my $bin = "$root/build/fuzz-$target-replay";
    return (-1, "$bin is not built (run make)") unless -x $bin;

    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        %ENV = (%ENV, %$env);
        alarm 600;
        exec @valgrind, $bin, @inputs or exit 127;
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($?, $out);
}

sub result {
    my ($ok, $name, $out, $todo) = @_;
    $n++;
    print $ok ? "ok $n - $name" : "not ok $n - $name";
    print " # TODO $todo" if $todo;
    print "\n";
    if (!$ok && !$todo) {
        print STDERR map { "# $_\n" } grep { length } split /\n/, $out;
    }
}

for my $t (@targets) {
    my @files = grep { -f } glob "$root/t/fuzz/corpus/$t/*";
    my ($rc, $out) = replay($t, {}, "$root/t/fuzz/corpus/$t");
    my ($count) = $out =~ /replayed (\d+) inputs/;
    result($rc == 0 && @files && ($count // -1) == @files,
           "$t: the " . scalar(@files) . " inputs of its corpus", $out);
}

for my $file (@crashes) {
    my ($name) = $file =~ m{([^/]+)$};
    my ($t) = $name =~ /^([a-z]+)-/;
    my ($rc, $out) = replay($t, {}, $file);
    result($rc == 0, "$name: a bug of src/ the fuzzers found, fixed", $out);
}
