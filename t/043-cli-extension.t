# build/pubsub-cli's commands of the protocol extension (subscribe,
# produce, commit, committed) against a fake server: t/cli/fake_server.py
# (/usr/bin/python3 with python3-websockets and python3-protobuf) plays the
# block's scenario (--- user_files: scenario.py) and logs every request it
# gets.  Nothing here involves Kafka or the module's own handling of these
# commands: that needs the server side (nginx is only started because the
# harness starts it for every block).
#
# Each ws_code returns the client's transcript ("out ...", "exit N",
# "err ...", as in t/042-cli.t) and then the fake server's log ("fake ...").

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(read_file spawn wait_child stop_child);

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use File::Path qw(make_path);
use IO::Select;
use Time::HiRes qw(sleep time);

our $CONFIG = <<'EOF_CONFIG';
    location = /ws {
        pubsub;
    }
EOF_CONFIG

for my $block (blocks()) {
    $block->{config} = [$CONFIG] unless exists $block->{config};
    $block->{ws_path} = ['/ws'] unless exists $block->{ws_path};
}

our $CLI = "$Test::PubSub::REPO/build/pubsub-cli";
our $FAKE = "$Test::PubSub::REPO/t/cli/fake_server.py";
our $PYTHON = $ENV{TEST_PUBSUB_PYTHON} || '/usr/bin/python3';
our $RUNS = 0;

# pubsub_pb2.py, made once for this file from proto/pubsub.proto
our $PROTO_DIR = "$Test::PubSub::REPO/t/servroot/043-cli-extension.proto";

sub proto_dir {
    return $PROTO_DIR if -f "$PROTO_DIR/pubsub_pb2.py";
    make_path($PROTO_DIR);
    my $proto = "$Test::PubSub::REPO/proto";
    system('protoc', "--python_out=$PROTO_DIR", "-I$proto",
           "$proto/pubsub.proto") == 0
        or die "protoc --python_out failed (protobuf-compiler)\n";
    return $PROTO_DIR;
}

# fake_start(): the fake server playing html/scenario.py; { pid, url, log }
sub fake_start {
    my $root = servroot();
    my $n = ++$RUNS;
    my ($port_file, $log) = ("$root/logs/fake-$n.port", "$root/logs/fake-$n.log");
    my $pid = spawn([$PYTHON, $FAKE, proto_dir(), "$root/html/scenario.py",
                     $port_file, $log],
                    stdout => "$root/logs/fake-$n.out",
                    stderr => "$root/logs/fake-$n.out");
    my $deadline = time + 10;
    until (-s $port_file) {
        if (defined wait_child($pid, 0) || time > $deadline) {
            die "the fake server did not start:\n"
                . read_file("$root/logs/fake-$n.out");
        }
        sleep 0.02;
    }
    my $port = read_file($port_file);
    return { pid => $pid, url => "ws://127.0.0.1:$port/kafka", log => $log,
             out => "$root/logs/fake-$n.out" };
}

# fake_finish($f): the log lines, once the scenario is over (the client
# closed, or the scenario failed), then the server is stopped
sub fake_finish {
    my ($f) = @_;
    my $deadline = time + 5;
    until (read_file($f->{log}) =~ /^(?:closed|scenario failed)/m
           || time > $deadline) {
        sleep 0.02;
    }
    stop_child($f->{pid}, 'TERM', 5);
    my @lines = map { "fake $_" } split /\n/, read_file($f->{log});
    my $out = read_file($f->{out});
    push @lines, map { "fake stderr: $_" } grep { /Error|Traceback/ }
                 split /\n/, $out;
    return @lines;
}

# cli_start(\%opt, @args): pubsub-cli with @args, its stdout a pipe;
# $opt{stdin}: what it reads
sub cli_start {
    my ($opt, @args) = @_;
    die "$CLI is missing: build it with make\n" unless -x $CLI;
    my $n = ++$RUNS;
    my $err = servroot() . "/logs/cli-$n.stderr";
    my $in = '/dev/null';
    if (defined $opt->{stdin}) {
        $in = servroot() . "/logs/cli-$n.stdin";
        open my $fh, '>', $in or die "$in: $!\n";
        print $fh $opt->{stdin};
        close $fh;
    }
    pipe my $r, my $w or die "pipe: $!\n";
    my $pid = spawn([$CLI, @args], stdin => $in, stdout => $w, stderr => $err);
    close $w;
    $r->blocking(0);
    return { pid => $pid, out => $r, buf => '', eof => 0, err => $err,
             args => "@args" };
}

# cli_lines($h, $n, $timeout): up to $n more stdout lines ("out ...")
sub cli_lines {
    my ($h, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my @lines;
    while (@lines < $n) {
        if ($h->{buf} =~ s/\A(.*?)\n//) {
            push @lines, "out $1";
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

# cli_finish($h): the rest of stdout, "exit N", the stderr lines
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

# fake_run(\%opt, @args): the client against a new fake server, to the end;
# the transcript and the fake's log
sub fake_run {
    my ($opt, @args) = @_;
    my $f = fake_start();
    my @t = cli_finish(cli_start($opt, map { $_ eq 'URL' ? $f->{url} : $_ } @args));
    return (@t, fake_finish($f));
}

run_tests();

__DATA__

=== TEST 1: subscribe: positions, messages with partition and headers, a gap, a duplicate skipped, credit as it prints, --count unsubscribes
--- user_files
>>> scenario.py
sub = await expect('cmd_kafka_subscribe')
s = sub.sequence
await send(positions(s, {0: 30, 1: 12}))
await send(messages(s, [msg(1, 12, 'a', key='k', headers=[('h', 'v'), ('b', b'\xff'), ('h', 'again')]),
                        msg(1, 13, b'\xff\xfe')]))
await expect('cmd_kafka_credit')
await send(messages(s, [msg(0, 30, 'say "hi"\n')]))
await send(positions(s, {0: 40}))
await send(messages(s, [msg(0, 39, 'before the gap: skipped'), msg(0, 40, 'd')]))
await expect('cmd_kafka_credit')
await send(messages(s, [msg(1, 14, 'e'), msg(1, 15, 'not printed')]))
u = await expect('cmd_kafka_unsubscribe')
await send(messages(s, [msg(0, 41, 'after the unsubscribe')]))
await send(positions(u.sequence, {0: 42, 1: 16, 2: 7}, ended=True))
await until_closed()
--- ws_code
[ fake_run({}, 'URL', 'subscribe', 'demo', '--window', 4, '--count', 5,
      '--key', 'k', '--header', 'h=v', '--from', 'earliest') ]
--- ws_response
out {"positions":{"0":30,"1":12}}
out {"partition":1,"offset":12,"timestamp":1700000000000,"key":"k","value":"a","headers":{"h":"v","b_base64":"/w==","h":"again"}}
out {"partition":1,"offset":13,"timestamp":1700000000000,"key":"","value_base64":"//4=","headers":{}}
out {"partition":0,"offset":30,"timestamp":1700000000000,"key":"","value":"say \"hi\"\n","headers":{}}
out {"positions":{"0":40},"gap":true}
out {"partition":0,"offset":40,"timestamp":1700000000000,"key":"","value":"d","headers":{}}
out {"partition":1,"offset":14,"timestamp":1700000000000,"key":"","value":"e","headers":{}}
out {"positions":{"0":41,"1":15,"2":7},"ended":true}
exit 0
fake req sequence: 1 cmd_kafka_subscribe { topic: "demo" all_partitions: true start: -2 filter { key: "k" headers { key: "h" value: "v" } } window: 4 }
fake req sequence: 2 cmd_kafka_credit { subscription: 1 messages: 2 }
fake req sequence: 3 cmd_kafka_credit { subscription: 1 messages: 3 }
fake req sequence: 4 cmd_kafka_unsubscribe { subscription: 1 }
fake closed 1000



=== TEST 2: subscribe to listed partitions with a group; the server ends it on its own (exit 3)
--- user_files
>>> scenario.py
sub = await expect('cmd_kafka_subscribe')
s = sub.sequence
await send(positions(s, {0: 5, 2: 9}))
await send(messages(s, [msg(2, 9, 'x')]))
await send(positions(s, {0: 5, 2: 10}, ended=True))
await close(1001, 'going away')
log('closed 1001 by the server')
--- ws_code
[ fake_run({}, 'URL', 'subscribe', 'demo', '--partition', '0@5', '--partition', 2,
      '--partition', '3@earliest', '--from', 'latest', '--group', 'g') ]
--- ws_response
out {"positions":{"0":5,"2":9}}
out {"partition":2,"offset":9,"timestamp":1700000000000,"key":"","value":"x","headers":{}}
out {"positions":{"0":5,"2":10},"ended":true}
exit 3
err pubsub-cli: the server ended the subscription
fake req sequence: 1 cmd_kafka_subscribe { topic: "demo" partitions { offset: 5 } partitions { partition: 2 offset: -1 } partitions { partition: 3 offset: -2 } group: "g" }
fake closed 1001 by the server



=== TEST 3: subscribe until SIGINT: unsubscribe, its answer, the close frame, exit 0
--- user_files
>>> scenario.py
sub = await expect('cmd_kafka_subscribe')
await send(positions(sub.sequence, {0: 0}))
await send(messages(sub.sequence, [msg(0, 0, 'one')]))
u = await expect('cmd_kafka_unsubscribe')
await sleep(0.2)
await send(positions(u.sequence, {0: 1}, ended=True))
await until_closed()
--- ws_code
my $f = fake_start();
my $h = cli_start({}, $f->{url}, 'subscribe', 'demo', '--all', '--from', 1700000000000);
my @out = cli_lines($h, 2);
sleep 0.2;
kill 'INT', $h->{pid};
[ @out, cli_finish($h), fake_finish($f) ]
--- ws_response
out {"positions":{"0":0}}
out {"partition":0,"offset":0,"timestamp":1700000000000,"key":"","value":"one","headers":{}}
out {"positions":{"0":1},"ended":true}
exit 0
fake req sequence: 1 cmd_kafka_subscribe { topic: "demo" all_partitions: true start: 1700000000000 }
fake req sequence: 2 cmd_kafka_unsubscribe { subscription: 1 }
fake closed 1000



=== TEST 4: SIGTERM and no answer to the unsubscribe: bounded by -t, exit 3
--- user_files
>>> scenario.py
sub = await expect('cmd_kafka_subscribe')
await send(positions(sub.sequence, {0: 0}))
await until_closed()
--- ws_code
my $f = fake_start();
my $h = cli_start({}, '-t', '0.5', $f->{url}, 'subscribe', 'demo');
my @out = cli_lines($h, 1);
sleep 0.2;
my $t0 = time;
kill 'TERM', $h->{pid};
my @t = cli_finish($h);
my $took = time - $t0;
[ @out, @t, $took < 3 ? 'in time' : "took $took s", fake_finish($f) ]
--- ws_response
out {"positions":{"0":0}}
exit 3
err pubsub-cli: no answer to the unsubscribe within 0.5 s
in time
fake req sequence: 1 cmd_kafka_subscribe { topic: "demo" all_partitions: true start: -1 }
fake req sequence: 2 cmd_kafka_unsubscribe { subscription: 1 }
fake closed 1000



=== TEST 5: subscribe errors: refused (404), failed later (503), a credit refused (400): exit 1 with the code
--- user_files
>>> scenario.py
sub = await expect('cmd_kafka_subscribe')
if sub.cmd_kafka_subscribe.topic == 'nope':
    await send(error(sub.sequence, 404, 'unknown topic nope'))
elif sub.cmd_kafka_subscribe.topic == 'later':
    await send(positions(sub.sequence, {0: 0}))
    await send(error(sub.sequence, 503, 'Kafka unavailable'))
else:
    await send(positions(sub.sequence, {0: 0}))
    await send(messages(sub.sequence, [msg(0, 0, 'a')]))
    c = await expect('cmd_kafka_credit')
    await send(error(c.sequence, 400, 'bad credit'))
await until_closed()
--- ws_code
[ fake_run({}, 'URL', 'subscribe', 'nope'),
  fake_run({}, 'URL', 'subscribe', 'later'),
  fake_run({}, 'URL', 'subscribe', 'credit', '--window', 1) ]
--- ws_response
exit 1
err pubsub-cli: error 404: unknown topic nope
fake req sequence: 1 cmd_kafka_subscribe { topic: "nope" all_partitions: true start: -1 }
fake closed 1000
out {"positions":{"0":0}}
exit 1
err pubsub-cli: error 503: Kafka unavailable
fake req sequence: 1 cmd_kafka_subscribe { topic: "later" all_partitions: true start: -1 }
fake closed 1000
out {"positions":{"0":0}}
out {"partition":0,"offset":0,"timestamp":1700000000000,"key":"","value":"a","headers":{}}
exit 1
err pubsub-cli: error 400: bad credit
fake req sequence: 1 cmd_kafka_subscribe { topic: "credit" all_partitions: true start: -1 window: 1 }
fake req sequence: 2 cmd_kafka_credit { subscription: 1 messages: 1 }
fake closed 1000



=== TEST 6: produce: lines of stdin, in flight together, answered out of order, reported in input order
--- user_files
>>> scenario.py
reqs = [await expect('cmd_kafka_produce') for _ in range(4)]
for r, (p, o) in reversed(list(zip(reqs, [(0, 16), (0, 17), (1, 7), (1, 8)]))):
    await send(produced(r.sequence, p, o, 1700000000000 + o))
await until_closed()
--- ws_code
[ fake_run({ stdin => "one\ntwo\n\n\xff last" }, 'URL', 'produce', 'demo',
      '--partition', 0, '--key', 'k', '--header', 'a=1', '--header', 'b=',
      '--timestamp', 5) ]
--- ws_response
out {"partition":0,"offset":16,"timestamp":1700000000016}
out {"partition":0,"offset":17,"timestamp":1700000000017}
out {"partition":1,"offset":7,"timestamp":1700000000007}
out {"partition":1,"offset":8,"timestamp":1700000000008}
exit 0
fake req sequence: 1 cmd_kafka_produce { topic: "demo" partition: 0 key: "k" value: "one" headers { key: "a" value: "1" } headers { key: "b" } timestamp: 5 }
fake req sequence: 2 cmd_kafka_produce { topic: "demo" partition: 0 key: "k" value: "two" headers { key: "a" value: "1" } headers { key: "b" } timestamp: 5 }
fake req sequence: 3 cmd_kafka_produce { topic: "demo" partition: 0 key: "k" headers { key: "a" value: "1" } headers { key: "b" } timestamp: 5 }
fake req sequence: 4 cmd_kafka_produce { topic: "demo" partition: 0 key: "k" value: "\377 last" headers { key: "a" value: "1" } headers { key: "b" } timestamp: 5 }
fake closed 1000



=== TEST 7: produce: at most 64 in flight; --value; no --partition leaves it to the partitioner
--- user_files
>>> scenario.py
first = await recv()
if first.cmd_kafka_produce.value == b'only':
    await send(produced(first.sequence, 2, 3, 4))
else:
    reqs = [first] + [await expect('cmd_kafka_produce') for _ in range(63)]
    try:
        await asyncio.wait_for(recv(), 0.5)
        log('a 65th before any answer')
    except asyncio.TimeoutError:
        log('64 in flight, no more')
    for r in reqs:
        await send(produced(r.sequence, 0, r.sequence - 1, 1))
    reqs = [await expect('cmd_kafka_produce') for _ in range(36)]
    for r in reqs:
        await send(produced(r.sequence, 0, r.sequence - 1, 1))
await until_closed()
--- ws_code
my @t = fake_run({ stdin => join('', map { "r$_\n" } 1 .. 100) }, 'URL',
            'produce', 'demo');
my @out = grep { /^out / } @t;
my @bad = grep { $out[$_] ne "out {\"partition\":0,\"offset\":$_,\"timestamp\":1}" } 0 .. $#out;
my @reqs = grep { /^fake req/ } @t;
[ scalar(@out) . ' reports, ' . (@bad ? "bad: @out[@bad]" : 'in order'),
  scalar(@reqs) . ' requests', $reqs[0], $reqs[-1],
  grep({ !/^(?:out|fake req) / } @t),
  fake_run({}, 'URL', 'produce', 'demo', '--value', 'only') ]
--- ws_response
100 reports, in order
100 requests
fake req sequence: 1 cmd_kafka_produce { topic: "demo" value: "r1" }
fake req sequence: 100 cmd_kafka_produce { topic: "demo" value: "r100" }
exit 0
fake 64 in flight, no more
fake closed 1000
out {"partition":2,"offset":3,"timestamp":4}
exit 0
fake req sequence: 1 cmd_kafka_produce { topic: "demo" value: "only" }
fake closed 1000



=== TEST 8: produce: an error stops it; what is in flight is still reported; exit 1
--- user_files
>>> scenario.py
a = await expect('cmd_kafka_produce')
b = await expect('cmd_kafka_produce')
await send(error(a.sequence, 429, 'producer queue full'))
await sleep(0.2)
await send(produced(b.sequence, 0, 5, 1))
await until_closed()
--- ws_code
[ fake_run({ stdin => "a\nb\n" }, 'URL', 'produce', 'demo') ]
--- ws_response
out {"error":429,"message":"producer queue full"}
out {"partition":0,"offset":5,"timestamp":1}
exit 1
err pubsub-cli: error 429: producer queue full
fake req sequence: 1 cmd_kafka_produce { topic: "demo" value: "a" }
fake req sequence: 2 cmd_kafka_produce { topic: "demo" value: "b" }
fake closed 1000



=== TEST 9: commit and committed (packed partitions), and their errors
--- user_files
>>> scenario.py
r = await recv()
cmd = r.WhichOneof('req')
if r.cmd_kafka_commit.topic == 'nope' or r.cmd_kafka_committed.topic == 'nope':
    await send(error(r.sequence, 404, 'unknown topic'))
elif cmd == 'cmd_kafka_commit':
    await send(commit_ok(r.sequence))
else:
    await send(offsets(r.sequence, {p: (17 if p == 0 else -1) for p in (r.cmd_kafka_committed.partitions or [0, 1, 2])}))
await until_closed()
--- ws_code
[ fake_run({}, 'URL', 'commit', 'g', 'demo', '0=17', '2=0'),
  fake_run({}, 'URL', 'committed', 'g', 'demo', 0, 1, 300),
  fake_run({}, 'URL', 'committed', 'g', 'demo'),
  fake_run({}, 'URL', 'commit', 'g', 'nope', '0=1'),
  fake_run({}, 'URL', 'committed', 'g', 'nope') ]
--- ws_response
out {}
exit 0
fake req sequence: 1 cmd_kafka_commit { group: "g" topic: "demo" offsets { offset: 17 } offsets { partition: 2 } }
fake closed 1000
out {"offsets":{"0":17,"1":-1,"300":-1}}
exit 0
fake req sequence: 1 cmd_kafka_committed { group: "g" topic: "demo" partitions: 0 partitions: 1 partitions: 300 }
fake closed 1000
out {"offsets":{"0":17,"1":-1,"2":-1}}
exit 0
fake req sequence: 1 cmd_kafka_committed { group: "g" topic: "demo" }
fake closed 1000
exit 1
err pubsub-cli: error 404: unknown topic
fake req sequence: 1 cmd_kafka_commit { group: "g" topic: "nope" offsets { offset: 1 } }
fake closed 1000
exit 1
err pubsub-cli: error 404: unknown topic
fake req sequence: 1 cmd_kafka_committed { group: "g" topic: "nope" }
fake closed 1000



=== TEST 10: usage errors of the new commands: exit 2
--- ws_code
my $u = 'ws://127.0.0.1:1/kafka';
my @runs = (
    [$u, 'subscribe'],
    [$u, 'subscribe', 't', 'u'],
    [$u, 'subscribe', 't', '--partition', 'x'],
    [$u, 'subscribe', 't', '--partition', '0@soon'],
    [$u, 'subscribe', 't', '--from', 'soon'],
    [$u, 'subscribe', 't', '--from', 0],
    [$u, 'subscribe', 't', '--all', '--partition', 1, '--from', 1700000000000],
    [$u, 'subscribe', 't', '--window', -1],
    [$u, 'subscribe', 't', '--count', 0],
    [$u, 'subscribe', 't', '--header', 'novalue'],
    [$u, 'subscribe', 't', '--group'],
    [$u, 'subscribe', 't', '--value', 'v'],
    [$u, 'produce'],
    [$u, 'produce', 't', '--partition', -1],
    [$u, 'produce', 't', '--timestamp', 'now'],
    [$u, 'produce', 't', '--window', 3],
    [$u, 'commit', 'g', 't'],
    [$u, 'commit', 'g', 't', '0:5'],
    [$u, 'commit', 'g'],
    [$u, 'committed', 'g', 't', 'zero'],
);
my @out;
for my $args (@runs) {
    push @out, grep { !/^err try / } cli_finish(cli_start({}, @$args));
}
\@out
--- ws_response
exit 2
err pubsub-cli: subscribe needs TOPIC
exit 2
err pubsub-cli: subscribe takes one argument, TOPIC
exit 2
err pubsub-cli: bad partition "x" (N or N@OFFSET)
exit 2
err pubsub-cli: bad offset in "0@soon" (earliest, latest or an offset)
exit 2
err pubsub-cli: bad --from "soon" (earliest, latest, an offset or a time in ms)
exit 2
err pubsub-cli: with --all, a number --from is a time in ms, above 0 (or use earliest)
exit 2
err pubsub-cli: with --all and a time --from, each --partition needs its @OFFSET
exit 2
err pubsub-cli: --window needs a number, 0 or more
exit 2
err pubsub-cli: --count needs a number above 0
exit 2
err pubsub-cli: bad --header "novalue" (KEY=VALUE)
exit 2
err pubsub-cli: --group needs a value
exit 2
err pubsub-cli: unknown option "--value" of subscribe
exit 2
err pubsub-cli: produce needs TOPIC
exit 2
err pubsub-cli: bad partition "-1"
exit 2
err pubsub-cli: bad --timestamp "now" (ms)
exit 2
err pubsub-cli: unknown option "--window" of produce
exit 2
err pubsub-cli: commit needs PARTITION=OFFSET
exit 2
err pubsub-cli: bad "0:5": PARTITION=OFFSET
exit 2
err pubsub-cli: commit needs GROUP TOPIC
exit 2
err pubsub-cli: bad partition "zero"
