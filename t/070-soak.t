# Under faults and load (issue 17), scaled down: build/pubsub-soak's
# scenarios against nginx and the mock cluster, the faults scripted here.
# Each block asserts what the harness checked at the end (every stream
# exactly once and in order, acknowledged produces in Kafka, only
# documented error codes), never a timing or a memory figure.
#
# SOAK_FULL=1 runs the scenarios at the issue's sizes and writes each
# report to soak/results/ (make soak); SOAK_RESULTS=DIR elsewhere.

use strict;
use warnings;

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(child_pids read_file spawn stop_child wait_child);

use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);

our $FULL = $ENV{SOAK_FULL} ? 1 : 0;
our $SOAK = "$Test::PubSub::REPO/build/pubsub-soak";
our $RESULTS = $ENV{SOAK_RESULTS} || "$Test::PubSub::REPO/soak/results";
our $STAMP = strftime('%Y%m%d-%H%M%S', gmtime);

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_timeout 3s;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_write soak;
        pubsub_kafka_buffer_size 16m;
    }

    location = /status {
        pubsub_kafka_status;
    }
EOF

our $MAIN = <<'EOF';
worker_rlimit_nofile 20000;
EOF

my %DEFAULTS = (
    config      => $CONFIG,
    main_config => $MAIN,
    ws_path     => '/kafka',
    log_level   => 'info',
    timeout     => 30,
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

# sizes([full...], [short...]): the issue's, or the suite's
sub sizes { return @{ $_[$FULL ? 0 : 1] } }

# the worker of this block's nginx (one worker)
sub worker_pid {
    my ($master) = @_;
    $master //= nginx_pid();
    for (1 .. 100) {
        my @w = child_pids($master);
        return $w[0] if @w;
        sleep 0.1;
    }
    die "no worker of nginx $master\n";
}

# soak($scenario, [$at, $cmd]..., '--', @args): runs pubsub-soak, sends
# each mock command $at seconds after the start, returns the report (a
# hash).  Its JSON is kept in logs/, and under SOAK_FULL in $RESULTS.
sub soak {
    my ($scenario, @rest) = @_;
    my @plan;
    push @plan, shift @rest while @rest && ref $rest[0];
    shift @rest if @rest && $rest[0] eq '--';
    die "$SOAK is missing: build it with make\n" unless -x $SOAK;

    my $port = server_port();
    my $out = servroot() . "/logs/soak-$scenario.json";
    my @cmd = ($SOAK, $scenario, '--url', "ws://127.0.0.1:$port/kafka",
               '--brokers', kafka_brokers(), '--topic', 'soak',
               '--pid', worker_pid(), '--out', $out, @rest);
    my $pid = spawn(\@cmd, stdout => servroot() . '/logs/soak.stdout',
                    stderr => servroot() . '/logs/soak.stderr');
    my $start = time;
    for my $step (@plan) {
        my ($at, $line) = @$step;
        my $left = $start + $at - time;
        sleep $left if $left > 0;
        my $answer = mock_cmd($line);
        die "mock: '$line' answered '$answer'\n" unless $answer =~ /^ok/;
    }
    my $status = wait_child($pid, 900);
    unless (defined $status) {
        stop_child($pid, 'TERM', 10);
        die "pubsub-soak @rest did not end\n";
    }
    my $json = read_file($out);
    die "pubsub-soak wrote no report (exit " . ($status >> 8) . "): "
        . read_file(servroot() . '/logs/soak.stderr') unless length $json;
    if ($FULL) {
        mkdir $RESULTS;
        open my $fh, '>', "$RESULTS/$scenario-$STAMP.json" or die "$!\n";
        print {$fh} $json;
        close $fh;
    }
    return decode_json($json);
}

# the faults of "broker failures": over $d seconds, broker $b down and up
# $n times (one at a time, 1, 2, 3, 1, ...) and $m leader moves
sub broker_faults {
    my ($d, $n, $m, $parts) = @_;
    my @plan;
    for my $i (0 .. $n - 1) {
        my $b = $i % 3 + 1;
        my $t = $d * ($i + 0.2) / $n;
        push @plan, [$t, "down $b"], [$t + $d / $n / 2, "up $b"];
    }
    for my $i (0 .. $m - 1) {
        push @plan, [$d * ($i + 0.5) / $m,
                     'leader soak ' . ($i * 7 % $parts) . ' '
                     . (($i * 5 + 1) % 3 + 1)];
    }
    return sort { $a->[0] <=> $b->[0] } @plan;
}

sub all_of { $_[0] == $_[1] ? 'all' : "$_[0] of $_[1]" }

# the lines a block compares: what must hold, not how fast
sub verdict {
    my ($r) = @_;
    my @lines = ('ok ' . ($r->{ok} ? 'true' : 'false'),
                 "error '$r->{error}'");
    for my $k (qw(push fetch)) {
        my $s = $r->{$k} or next;
        next unless $s->{clients};
        push @lines, "$k complete " . all_of($s->{complete}, $s->{clients})
            . " lost $s->{lost} duplicated $s->{duplicated} out_of_order "
            . "$s->{out_of_order}";
        push @lines, "$k stopped complete "
            . all_of($s->{stopped_complete}, $s->{stopped}) if $s->{stopped};
    }
    if (my $p = $r->{produced}) {
        for my $via (qw(gateway direct)) {
            next unless $p->{$via}{sent};
            push @lines, "$via acked missing $p->{$via}{acked_missing} "
                . "wrong $p->{$via}{acked_wrong}";
        }
        push @lines, "stored twice $p->{stored_twice}";
    }
    my $undoc = 0;
    $undoc += $r->{$_}{undocumented} for grep { $r->{$_} } qw(
        subscribe_errors fetch_errors produce_errors);
    push @lines, "undocumented errors $undoc";
    push @lines, "websockets after the storm "
        . ($r->{websockets_after} == $r->{clients} ? 'as before' : 'differ')
        if defined $r->{websockets_after};
    return \@lines;
}

run_tests();

__DATA__

=== TEST 1: broker failures: brokers go down and up, leaders move; every subscriber and fetch loop gets every message once, in order
--- kafka
brokers: 3
topic: soak 6
leader soak 0 1
leader soak 1 2
leader soak 2 3
leader soak 3 1
leader soak 4 2
leader soak 5 3
--- ws_code
my ($d, $subs, $fetchers, $rate) = sizes([60, 100, 10, 1000],
                                         [8, 20, 4, 400]);
my $r = soak('brokers', broker_faults($d, 5, 10, 6), '--',
             '--partitions', 6, '--subscribers', $subs,
             '--fetchers', $fetchers, '--rate', $rate,
             '--gateway-share', 0.5, '--duration', $d, '--window', 256);
verdict($r);
--- ws_response
ok true
error ''
push complete all lost 0 duplicated 0 out_of_order 0
fetch complete all lost 0 duplicated 0 out_of_order 0
gateway acked missing 0 wrong 0
direct acked missing 0 wrong 0
stored twice 0
undocumented errors 0
