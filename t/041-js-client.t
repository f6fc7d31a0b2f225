# The JavaScript client html/pubsub.js under Node.js: the unit tests of its
# codec, client and fetch loop (t/browser/js-client-test.mjs, against byte
# vectors and a fake WebSocket), then the client against nginx and the
# kafka mock (t/browser/js-client-live.mjs).
#
# Needs node (v20 or later); the test fails without it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use POSIX ();
use Test::PubSub;
use Time::HiRes qw(time);

our $NODE = $ENV{NODE} || 'node';
our $DIR = "$FindBin::Bin/browser";

# ---------------------------------------------------------------------------
# Unit tests: node prints TAP; each of its results becomes one of ours.

sub run_unit_tests {
    my $out = `$NODE $DIR/js-client-test.mjs 2>&1`;
    my $status = $?;
    if ($status == -1 || ($status >> 8) == 127 && $out !~ /^ok /m) {
        fail("node runs the unit tests ($NODE: "
             . ($status == -1 ? $! : 'not found') . ')');
        return;
    }
    my ($plan, $n, @diag) = (undef, 0);
    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok \d+ - (.*)$/) {
            $n++;
            my ($failed, $name) = ($1, $2);
            ok(!$failed, "js: $name");
        }
        elsif ($line =~ /^1\.\.(\d+)$/) {
            $plan = $1;
        }
        elsif ($line =~ /^#/) {
            diag($line);
        }
        else {
            diag("node: $line");
        }
    }
    ok(defined $plan && $plan == $n && $status == 0,
        "js: all unit tests ran (plan " . ($plan // 'none') . ", ran $n,"
        . " exit status " . ($status >> 8) . ')');
}

Test::More::plan('no_plan');
run_unit_tests();

# ---------------------------------------------------------------------------
# Against the gateway

# node's WebSocket: global from Node 22, behind a flag from 20.10, absent
# before
sub node_has_websocket {
    my @flags = @_;
    return `$NODE @flags -e "process.stdout.write(typeof WebSocket)" 2>/dev/null`
        eq 'function';
}
our @NODE_WS = node_has_websocket() ? ()
    : node_has_websocket('--experimental-websocket')
    ? ('--experimental-websocket') : undef;

# Runs the live script; returns its lines.  $on_line->($line) is called for
# each line as it comes.  Dies after $timeout seconds.
sub run_node_live {
    my ($on_line, $timeout, $script, @args) = @_;
    my $port = server_port();
    $script //= 'js-client-live.mjs';
    @args = ("ws://127.0.0.1:$port/kafka", "ws://127.0.0.1:$port/ping")
        unless @args;
    my @cmd = ($NODE, @NODE_WS, "$DIR/$script", @args);
    my $pid = open(my $fh, '-|');
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    my $sel = IO::Select->new($fh);
    my $deadline = time + $timeout;
    my ($buf, @lines) = ('');
    for (;;) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            die "node did not finish within $timeout s; its output:\n"
                . join('', map { "  $_\n" } @lines, $buf);
        }
        my $n = sysread $fh, my $chunk, 4096;
        last unless $n;
        $buf .= $chunk;
        while ($buf =~ s/\A(.*?)\n//) {
            push @lines, $1;
            $on_line->($1);
        }
    }
    push @lines, $buf if length $buf;
    close $fh;
    push @lines, 'exit status ' . ($? >> 8) if $?;
    return \@lines;
}

if (@NODE_WS && !defined $NODE_WS[0]) {
    my $version = `$NODE --version 2>/dev/null` || 'missing';
    chomp $version;
    SKIP: {
        skip "node ($version) has no WebSocket (Node.js 20.10 or later"
             . ' has): the client against the gateway', 1;
    }
}
else {
    run_tests();
}

__DATA__

=== TEST 1: the client against the gateway: commands, errors, many in flight, tail
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_timeout 1s;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /ping {
        pubsub;
    }
--- kafka
topic: test 1
topicerr missing UNKNOWN_TOPIC_OR_PART
produce test 0 v0 key=k0
produce test 0 v1 key=k1
produce test 0 v2 key=k2
--- ws_path: /ping
--- timeout: 10
--- ws_code
my $lines = run_node_live(sub {
    my ($line) = @_;
    return unless $line eq 'tailing';
    for my $i (3 .. 5) {
        my $answer = mock_cmd("produce test 0 v$i key=k$i");
        die "mock: $answer\n" unless $answer =~ /^ok/;
    }
}, 20);
s/127\.0\.0\.1:\d+/127.0.0.1:PORT/g for @$lines;
$lines;
--- ws_response
ping hello
ping binary 0001ff
earliest 0
end 3
fetch 1: 1:k1=v1, contiguous true
types number number Uint8Array
timestamp recent true
in flight: 2 0 1 2 0
offset past the end: ServerError: failed to fetch message, topic: test, partition: 0, err: OFFSET_OUT_OF_RANGE
unknown topic: ServerError: failed to list offset, topic: missing, partition: 0, err: UNKNOWN_TOPIC_OR_PART
negative partition: ServerError: failed to fetch message, topic: test, partition: -1, err: invalid partition
after errors: ping again
bare ping x
bare fetch: ServerError: unknown command
empty command: ServerError: unknown command
after close: ConnectionClosedError: connection to ws://127.0.0.1:PORT/ping is closed
tailing
paused state paused
tail: 0:k0=v0 1:k1=v1 2:k2=v2 3:k3=v3 4:k4=v4 5:k5=v5
closed true
--- no_error_log
[error]



=== TEST 2: the extension against the gateway: push with credit, produce, commits, a group resume with a filter, a refusal
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_write ext;
        pubsub_kafka_groups live-*;
    }
    location = /ping {
        pubsub;
    }
--- kafka
topic: ext 2
--- ws_path: /ping
--- timeout: 10
--- ws_code
run_node_live(sub {}, 20, 'js-client-extension-live.mjs',
              'ws://127.0.0.1:' . server_port() . '/kafka', 'ext');
--- ws_response

started: positions of every partition
produced: 0:0 0:1 0:2 0:3 0:4 0:5 0:6 0:7 0:8 0:9
pushed: 0:0=v0/0 0:1=v1/1 0:2=v2/2 0:3=v3/3 0:4=v4/4 0:5=v5/5 0:6=v6/6 0:7=v7/7 0:8=v8/8 0:9=v9/9
ended: unsubscribed, partition 0 at +10
committed: +10
recommitted: +5
resumed with a filter: 7=v7
denied topic: ServerError 403
--- no_error_log
[error]
