# The command-line client build/pubsub-cli against the gateway: ping,
# list-offset, fetch and tail, its JSON output, server errors (exit 1),
# usage errors (exit 2), connection, handshake and protocol failures
# (exit 3), pings and closes from the server, and SIGINT/SIGTERM.
#
# Each ws_code runs the client and returns a transcript: its stdout lines
# ("out ..."), its exit ("exit N") and its stderr lines ("err ...").
# Timestamps within a day of now read "NOW".

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(free_port read_file spawn wait_child);

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use Time::HiRes qw(sleep time);

# Harness workaround (valgrind mode only): every rd_kafka_new() makes
# libsasl2's one-time global init (sasl_client_init) allocate memory that
# is never freed, reported as "definitely lost"; t/valgrind.supp has no
# suppression for it, and since nginx dlclose()s the module at exit the
# stacks are "???" unless valgrind keeps the debug info.
if (use_valgrind()) {
    my $supp = "$Test::PubSub::REPO/t/servroot/kafka-sasl.supp";
    mkdir "$Test::PubSub::REPO/t/servroot";
    open my $fh, '>', $supp or die "$supp: $!";
    print $fh "{\n   librdkafka-libsasl2-global-init\n   Memcheck:Leak\n"
        . "   match-leak-kinds: definite\n   ...\n   fun:sasl_client_init\n"
        . "   ...\n   fun:rd_kafka_new\n}\n";
    close $fh;
    push @Test::PubSub::VALGRIND_CMD, '--keep-debuginfo=yes',
        "--suppressions=$supp";
}

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 200ms;
    }
    location = /denied {
        deny all;
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /bare {
        pubsub;
    }
    location = /plain {
        return 200 "hello\n";
    }
    location = /slow {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 5s;
    }
    location = /pinged {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 3s;
        pubsub_ping_interval 100ms;
        pubsub_idle_timeout 600ms;
    }
    location = /idle {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 3s;
        pubsub_idle_timeout 300ms;
    }
EOF

our $KAFKA = <<'EOF';
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
topicerr not-exist UNKNOWN_TOPIC_OR_PART
EOF

my %DEFAULTS = (
    config  => $CONFIG,
    kafka   => $KAFKA,
    ws_path => '/kafka',
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $CLI = "$Test::PubSub::REPO/build/pubsub-cli";
our $RUNS = 0;

# ws://127.0.0.1:PORT/kafka, or another path of this block's nginx
sub url {
    my ($path) = @_;
    return 'ws://127.0.0.1:' . server_port() . ($path // '/kafka');
}

# cli_start(@args): pubsub-cli started with @args, its stdout a pipe.  A
# missing binary fails the block (it is built by "make").
sub cli_start {
    my @args = @_;
    die "$CLI is missing: build it with make\n" unless -x $CLI;
    my $err = servroot() . '/logs/cli-' . ++$RUNS . '.stderr';
    pipe my $r, my $w or die "pipe: $!\n";
    my $pid = spawn([$CLI, @args], stdout => $w, stderr => $err);
    close $w;
    $r->blocking(0);
    return { pid => $pid, out => $r, buf => '', eof => 0, err => $err,
             args => "@args" };
}

# cli_lines($h, $n, $timeout): up to $n more stdout lines ("out ..."),
# fewer at EOF or after $timeout seconds (default 10).
sub cli_lines {
    my ($h, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my @lines;
    while (@lines < $n) {
        if ($h->{buf} =~ s/\A(.*?)\n//) {
            push @lines, 'out ' . now($1);
            next;
        }
        last if $h->{eof};
        my $left = $deadline - time;
        last if $left <= 0 || !IO::Select->new($h->{out})->can_read($left);
        my $got = sysread $h->{out}, my $chunk, 65536;
        if (!defined $got) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $got = 0;
        }
        $h->{eof} = 1 if $got == 0;
        $h->{buf} .= $chunk if $got;
    }
    return @lines;
}

# cli_finish($h): the rest of stdout, "exit N" (or "signal N") and the
# stderr lines.  Dies when it does not end within 20 s.
sub cli_finish {
    my ($h) = @_;
    my @lines = cli_lines($h, 1e9, 20);
    push @lines, "out (no newline) $h->{buf}" if length $h->{buf};
    my $status = wait_child($h->{pid}, 5);
    unless (defined $status && $h->{eof}) {
        kill 'KILL', $h->{pid};
        wait_child($h->{pid}, 5);
        die "pubsub-cli $h->{args} did not end\n";
    }
    close $h->{out};
    push @lines, ($status & 127) ? 'signal ' . ($status & 127)
                                 : 'exit ' . ($status >> 8);
    push @lines, map { "err $_" } split /\n/, read_file($h->{err});
    return @lines;
}

# cli(@args): run it to the end; the transcript lines
sub cli {
    return cli_finish(cli_start(@_));
}

# "timestamp":N within a day of now becomes "timestamp":NOW
sub now {
    my ($line) = @_;
    $line =~ s{"timestamp":(\d+)}{
        abs($1 - time * 1000) < 86_400_000 ? '"timestamp":NOW'
                                           : "\"timestamp\":$1"
    }ge;
    return $line;
}

run_tests();

__DATA__

=== TEST 1: ping, with and without a state; JSON escapes; base64 for non-UTF-8
--- ws_code
return [
    cli(url(), 'ping', 'hello'),
    cli(url(), 'ping'),
    cli(url('/bare'), 'ping', "caf\xc3\xa9 \"q\" \\ \n\t\x01\x7f"),
    cli(url(), 'ping', "\xff\xfeab"),
];
--- ws_response
out {"pong":"hello"}
exit 0
out {"pong":""}
exit 0
out {"pong":"café \"q\" \\ \n\t\u0001\u007f"}
exit 0
out {"pong_base64":"//5hYg=="}
exit 0
--- no_error_log
[error]



=== TEST 2: list-offset: earliest and latest, as numbers and as words
--- ws_code
return [
    cli(url(), 'list-offset', 'test-consumer', 0, -2),
    cli(url(), 'list-offset', 'test-consumer', 0, -1),
    cli(url(), 'list-offset', 'test-consumer', 0, 'earliest'),
    cli(url(), 'list-offset', 'test-consumer', 0, 'latest'),
];
--- ws_response
out {"offset":0}
exit 0
out {"offset":30}
exit 0
out {"offset":0}
exit 0
out {"offset":30}
exit 0
--- no_error_log
[error]



=== TEST 3: fetch 14: one response, from exactly 14 on, each line in shape
--- ws_code
my @t = cli(url(), 'fetch', 'test-consumer', 0, 14);
my @out = grep { /^out / } @t;
my $next = 14;
my @bad;
for (@out) {
    my $want = sprintf 'out {"offset":%d,"timestamp":NOW,"key":"",'
        . '"value":"testmsg%d"}', $next, $next + 1;
    push @bad, $_ unless $_ eq $want;
    $next++;
}
return [
    $t[0],
    @out && $next <= 30 ? 'offsets 14 and on, at most to 29' : "$next",
    @bad ? ('bad lines:', @bad) : 'all lines well-formed',
    grep { !/^out / } @t,
];
--- ws_response
out {"offset":14,"timestamp":NOW,"key":"","value":"testmsg15"}
offsets 14 and on, at most to 29
all lines well-formed
exit 0
--- no_error_log
[error]



=== TEST 4: fetch at the end of the partition prints nothing
--- ws_code
return [ cli(url(), 'fetch', 'test-consumer', 0, 30) ];
--- ws_response
exit 0
--- no_error_log
[error]



=== TEST 5: fetch 999: the server's error on stderr, exit 1
--- ws_code
return [
    cli(url(), 'fetch', 'test-consumer', 0, 999),
    cli(url(), 'fetch', 'test-consumer', 0, -5),
];
--- ws_response
exit 1
err pubsub-cli: failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE
exit 1
err pubsub-cli: failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE



=== TEST 6: unknown topic: exit 1 for fetch, list-offset and tail
--- ws_code
return [
    cli(url(), 'fetch', 'not-exist', 0, 0),
    cli(url(), 'list-offset', 'not-exist', 0, -1),
    cli(url(), 'tail', 'not-exist', 0),
    cli(url(), 'tail', 'not-exist', 0, '--from', 5),
];
--- ws_response
exit 1
err pubsub-cli: failed to fetch message, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART
exit 1
err pubsub-cli: failed to list offset, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART
exit 1
err pubsub-cli: failed to list offset, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART
exit 1
err pubsub-cli: failed to fetch message, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART



=== TEST 7: a command the location does not serve: exit 1
--- ws_code
return [ cli(url('/bare'), 'fetch', 'test-consumer', 0, 0) ];
--- ws_response
exit 1
err pubsub-cli: unknown command
--- no_error_log
[error]



=== TEST 8: tail --from 28 --count 4 with messages produced during the tail
--- ws_code
my $h = cli_start(url(), 'tail', 'test-consumer', 0, '--from', 28,
                  '--count', 4);
my @lines = cli_lines($h, 2);
# the client now waits at the end of the partition
sleep 0.3;
my @produced = (
    mock_cmd('produce test-consumer 0 say%20%22hi%22%0A key=k1'
             . ' ts=1700000000000'),
    mock_cmd('produce test-consumer 0 %ff%fe%00 key=%c3%a9'),
);
return [@lines, cli_finish($h), @produced];
--- ws_response
out {"offset":28,"timestamp":NOW,"key":"","value":"testmsg29"}
out {"offset":29,"timestamp":NOW,"key":"","value":"testmsg30"}
out {"offset":30,"timestamp":1700000000000,"key":"k1","value":"say \"hi\"\n"}
out {"offset":31,"timestamp":NOW,"key":"é","value_base64":"//4A"}
exit 0
ok 30
ok 31
--- no_error_log
[error]



=== TEST 9: tail --from earliest --count 3
--- ws_code
return [ cli(url(), 'tail', 'test-consumer', 0, '--from', 'earliest',
             '--count', 3) ];
--- ws_response
out {"offset":0,"timestamp":NOW,"key":"","value":"testmsg1"}
out {"offset":1,"timestamp":NOW,"key":"","value":"testmsg2"}
out {"offset":2,"timestamp":NOW,"key":"","value":"testmsg3"}
exit 0
--- no_error_log
[error]



=== TEST 10: tail from latest (the default) until SIGINT: close frame, exit 0
--- ws_code
my $h = cli_start(url(), 'tail', 'test-consumer', 0);
# the start offset is listed before the first fetch: wait for that
sleep 0.5;
mock_cmd('produce test-consumer 0 live');
my @lines = cli_lines($h, 1);
kill 'INT', $h->{pid};
my $closed = wait_error_log('client sent close frame 1000', 5);
return [@lines, cli_finish($h), $closed ? 'close logged' : 'no close'];
--- ws_response
out {"offset":30,"timestamp":NOW,"key":"","value":"live"}
exit 0
close logged
--- no_error_log
[error]



=== TEST 11: SIGTERM while a fetch waits: exit 0
--- ws_code
my $h = cli_start(url('/slow'), 'tail', 'test-consumer', 0, '--from', 30);
sleep 0.5;
kill 'TERM', $h->{pid};
return [ cli_finish($h) ];
--- ws_response
exit 0
--- no_error_log
[error]



=== TEST 12: server pings during a long fetch are answered
The location closes connections idle for 600 ms; the fetch waits 3 s.
--- ws_code
my $h = cli_start(url('/pinged'), 'tail', 'test-consumer', 0, '--from', 30,
                  '--count', 1);
sleep 1.5;
mock_cmd('produce test-consumer 0 after-pings');
return [ cli_finish($h) ];
--- ws_response
out {"offset":30,"timestamp":NOW,"key":"","value":"after-pings"}
exit 0
--- no_error_log
[error]



=== TEST 13: the server closes the WebSocket: exit 3 with its status
--- ws_code
return [ cli(url('/idle'), 'tail', 'test-consumer', 0, '--from', 30) ];
--- ws_response
exit 3
err pubsub-cli: the server closed the WebSocket with status 1000: idle timeout
--- no_error_log
[error]



=== TEST 14: -t: no answer in time, exit 3
--- ws_code
my $t0 = time;
my @t = cli('-t', '0.5', url('/slow'), 'fetch', 'test-consumer', 0, 30);
my $took = time - $t0;
return [@t, $took < 3 ? 'in time' : "took $took s"];
--- ws_response
exit 3
err pubsub-cli: no answer from the server within 0.5 s
in time
--- no_error_log
[error]



=== TEST 15: connection refused: exit 3
--- ws_code
my $port = free_port();
my @t = cli("ws://127.0.0.1:$port/kafka", 'ping');
s/:$port\b/:PORT/ for @t;
return \@t;
--- ws_response
exit 3
err pubsub-cli: cannot connect to 127.0.0.1:PORT: Connection refused



=== TEST 16: handshake refused (403, 200, 404): exit 3 with the status line
--- ws_code
return [
    cli(url('/denied'), 'ping'),
    cli(url('/plain'), 'ping'),
    cli(url('/nowhere'), 'list-offset', 'test-consumer', 0, -1),
];
--- ws_response
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 403 Forbidden"
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 200 OK"
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 404 Not Found"



=== TEST 17: usage errors: exit 2, the reason on stderr
--- ws_code
my $u = url();
my @runs = (
    [],
    [$u],
    [$u, 'publish'],
    [$u, 'ping', 'a', 'b'],
    [$u, 'fetch', 'test-consumer', 0],
    [$u, 'fetch', 'test-consumer', 'zero', 0],
    [$u, 'fetch', 'test-consumer', 0, '12x'],
    [$u, 'fetch', 'test-consumer', 4294967296, 0],
    [$u, 'list-offset', 'test-consumer', 0, 'now'],
    [$u, 'tail', 'test-consumer', 0, '--count', 0],
    [$u, 'tail', 'test-consumer', 0, '--from', 'start'],
    [$u, 'tail', 'test-consumer', 0, '--from'],
    [$u, 'tail', 'test-consumer', 0, '--follow'],
    ['-t', 'soon', $u, 'ping'],
    ['-x', $u, 'ping'],
    ['--insecure', $u, 'ping', '--cacert'],
    ['--cacert'],
    ['-E'],
    ['--cert-key'],
    ['--verbose', $u, 'ping'],
    ['http://127.0.0.1/kafka', 'ping'],
    ['ws://127.0.0.1:99999/kafka', 'ping'],
);
my @out;
for my $args (@runs) {
    my @t = cli(@$args);
    s/\Q$u\E/URL/ for @t;
    # the reason and the exit; the "try -h" hint only once
    push @out, grep { !/^err try / } @t;
}
my @help = cli('-h');
push @out, (grep { /exit status/ } @help) ? 'help has exit codes' : @help;
push @out, $help[-1];
return \@out;
--- ws_response
exit 2
err pubsub-cli: a URL and a command are needed
exit 2
err pubsub-cli: a URL and a command are needed
exit 2
err pubsub-cli: unknown command "publish"
exit 2
err pubsub-cli: ping takes one argument, STATE
exit 2
err pubsub-cli: fetch needs TOPIC PARTITION OFFSET
exit 2
err pubsub-cli: bad partition "zero"
exit 2
err pubsub-cli: bad offset "12x"
exit 2
err pubsub-cli: bad partition "4294967296"
exit 2
err pubsub-cli: bad timestamp "now"
exit 2
err pubsub-cli: --count needs a number above 0
exit 2
err pubsub-cli: bad --from "start" (earliest, latest or an offset)
exit 2
err pubsub-cli: --from needs a value
exit 2
err pubsub-cli: unknown option "--follow" of tail
exit 2
err pubsub-cli: bad timeout "soon"
exit 2
err pubsub-cli: unknown option "-x"
exit 2
err pubsub-cli: unknown option "--cacert" of ping
exit 2
err pubsub-cli: --cacert needs a file
exit 2
err pubsub-cli: --cert needs a file
exit 2
err pubsub-cli: --cert-key needs a file
exit 2
err pubsub-cli: unknown option "--verbose"
exit 2
err pubsub-cli: bad URL "http://127.0.0.1/kafka": the URL must start with ws:// or wss://
exit 2
err pubsub-cli: bad URL "ws://127.0.0.1:99999/kafka": bad port in the URL
help has exit codes
exit 0



=== TEST 18: messages over 64 KiB (64-bit frame lengths)
--- kafka
topic: big 1
produce_n big 0 2 big size=70000
--- ws_code
my @t = cli(url(), 'tail', 'big', 0, '--from', 'earliest', '--count', 2);
for (@t) {
    s/"value":"(big\d)(\.+)"/'"value":"' . $1 . '.{' . length($2) . '}"'/e;
}
return \@t;
--- ws_response
out {"offset":0,"timestamp":NOW,"key":"","value":"big1.{69996}"}
out {"offset":1,"timestamp":NOW,"key":"","value":"big2.{69996}"}
exit 0
--- no_error_log
[error]
