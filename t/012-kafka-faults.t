# Faults: several brokers, a broker going down and coming back, injected
# request errors, and clients going away while their commands wait.

use lib 't/lib';
use Test::PubSub;
use JSON::PP ();

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_timeout 1s;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 200ms;
    }
    location = /long {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

our $KAFKA = <<'EOF';
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
EOF

my %DEFAULTS = (
    config       => $CONFIG,
    kafka        => $KAFKA,
    ws_path      => '/kafka',
    no_error_log => "[error]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $SEQ = 1000;

# One command; its response rendered (pb_resp_render) and decoded.
sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    my $r = $ws->recv_resp;
    die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
    return (pb_resp_render(pb_resp_encode($r)) =~ s/^seq=\d+ //r, $r);
}

# Fetches $topic/$part from $from through $to at the offset after the
# last message each time; "OFFSET=VALUE" lines.  With $tolerate, error
# responses are counted in $$tolerate and retried; otherwise they die.
sub fetch_range {
    my ($ws, $topic, $part, $from, $to, $tolerate) = @_;
    my (@got, $tries);
    my $next = $from;
    while ($next <= $to) {
        die "no progress at $next\n" if ++$tries > 300;
        my ($line, $r) = command($ws, cmd_kafka_fetch =>
            topic => $topic, partition => $part, offset => $next);
        unless ($r->{kafka_fetch_resp}) {
            die "$line\n" unless $tolerate;
            $$tolerate++;
            next;
        }
        for my $m (@{ $r->{kafka_fetch_resp}{messages} }) {
            die "got offset $m->{offset}, want $next\n"
                unless $m->{offset} == $next;
            push @got, "$m->{offset}=$m->{value}";
            $next++;
        }
    }
    return @got;
}

# The worker's status JSON, decoded.
sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body});
}

# Polls the status until $cond->(status) holds; the last status.
sub wait_status {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * (use_valgrind() ? 3 : 1);
    my $s;
    for (;;) {
        $s = status();
        return $s if $cond->($s) || time > $deadline;
        select undef, undef, undef, 0.05;
    }
}

run_tests();

__DATA__

=== TEST 1: three brokers: each partition gives its own messages
--- kafka
brokers: 3
create multi 3
produce_n multi 0 5 zero-
produce_n multi 1 5 one-
produce_n multi 2 5 two-
--- ws_code
[ map { my $p = $_; join ' ', fetch_range($ws, 'multi', $p, 0, 4) } 0 .. 2 ];
--- ws_response
0=zero-1 1=zero-2 2=zero-3 3=zero-4 4=zero-5
0=one-1 1=one-2 2=one-3 3=one-4 4=one-5
0=two-1 1=two-2 2=two-3 3=two-4 4=two-5



=== TEST 2: the broker goes down under a tailing client: an error, not silence; then it recovers
--- ws_code
my ($list) = command($ws, cmd_kafka_list_offset =>
    topic => 'test-consumer', partition => 0, timestamp => -1);
my ($tail) = command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 30);
my $down = mock_cmd('down 1');
# every answer comes within fetch_max_wait + pubsub_kafka_timeout (each
# read waits up to the block's timeout); an error must come, bounded
my ($err, $n) = ('no error', 0);
while ($n++ < 20) {
    my ($line) = command($ws, cmd_kafka_fetch =>
        topic => 'test-consumer', partition => 0, offset => 30);
    next if $line eq 'fetch';
    $err = $line;
    last;
}
my $up = mock_cmd('up 1');
my $produced = mock_cmd('produce test-consumer 0 back');
my ($got, $errors) = ('nothing', 0);
for (1 .. 50) {
    my ($line) = command($ws, cmd_kafka_fetch =>
        topic => 'test-consumer', partition => 0, offset => 30);
    if ($line =~ /^error/) {
        $errors++;
        select undef, undef, undef, 0.1;
        next;
    }
    next if $line eq 'fetch';
    $got = $line;
    last;
}
[ $list, $tail, $down, $err, $up, $produced, $got ];
--- ws_response_like
\Alist_offset offset=30
fetch
ok
error code=0 message="failed to fetch message, topic: test-consumer, partition: 0, err: _[A-Z_]+"
ok
ok 30
fetch 30="back"\z
--- no_error_log
[alert]



=== TEST 3: injected ListOffsets errors: list offset answers with the error, a later one succeeds
--- ws_code
my $inject = mock_cmd('err 2 NOT_LEADER_FOR_PARTITION 4');
my ($first) = command($ws, cmd_kafka_list_offset =>
    topic => 'test-consumer', partition => 0, timestamp => -1);
my ($ok, $n) = ('never', 0);
while ($n++ < 20) {
    my ($line) = command($ws, cmd_kafka_list_offset =>
        topic => 'test-consumer', partition => 0, timestamp => -1);
    if ($line =~ /^list_offset/) {
        $ok = $line;
        last;
    }
    select undef, undef, undef, 0.1;
}
[ $inject, $first, $ok ];
--- ws_response_like
\Aok
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: NOT_LEADER_FOR_PARTITION"
list_offset offset=30\z



=== TEST 4: injected Fetch errors: the stream still delivers the right data
--- ws_code
my $inject = mock_cmd('err 1 NOT_LEADER_FOR_PARTITION 3');
my $errors = 0;
my @got = fetch_range($ws, 'test-consumer', 0, 0, 29, \$errors);
[ $inject, "errors: $errors", @got ];
--- ws_response eval
join "\n", 'ok', 'errors: 0', map { "$_=testmsg" . ($_ + 1) } 0 .. 29;



=== TEST 5: injected Fetch errors while a client tails: it gets the next message
--- ws_path: /long
--- ws_code
command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 29);
$ws->send_req(sequence => 5, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 });
wait_status(sub { $_[0]{clients}[0]{waiters} == 1 });
my $inject = mock_cmd('err 1 NOT_LEADER_FOR_PARTITION 3');
my $produced = mock_cmd('produce test-consumer 0 after');
my $line = $ws->recv_line;
for (1 .. 10) {
    last unless $line eq 'seq=5 fetch';
    $ws->send_req(sequence => 5, cmd_kafka_fetch =>
        { topic => 'test-consumer', partition => 0, offset => 30 });
    $line = $ws->recv_line;
}
[ $inject, $produced, $line ];
--- ws_response
ok
ok 30
seq=5 fetch 30="after"



=== TEST 6: a client leaving while its fetch waits at the tail leaves no waiter behind
--- ws_path: /long
--- ws_code
my ($list) = command($ws, cmd_kafka_list_offset =>
    topic => 'test-consumer', partition => 0, timestamp => -1);
my $c = ws_connect(path => '/long');
$c->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 });
my $s1 = wait_status(sub { $_[0]{clients}[0]{waiters} == 1 });
$c->close;
my $s2 = wait_status(sub { $_[0]{clients}[0]{waiters} == 0
                           && $_[0]{websockets} == 1 });
# the partition still serves the tail
$ws->send_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 });
my $produced = mock_cmd('produce test-consumer 0 next');
[ $list, "waiters=$s1->{clients}[0]{waiters}",
  "waiters=$s2->{clients}[0]{waiters} websockets=$s2->{websockets}",
  $produced, $ws->recv_line ];
--- ws_response
list_offset offset=30
waiters=1
waiters=0 websockets=1
ok 30
seq=2 fetch 30="next"



=== TEST 7: a client leaving while its first fetch of a partition is being looked up
--- ws_code
my $c = ws_connect(path => '/kafka');
$c->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 3 });
$c->close;
my $c2 = ws_connect(path => '/kafka');
$c2->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 5 });
$c2->close;
my @got = fetch_range($ws, 'test-consumer', 0, 0, 29);
my $s = wait_status(sub { $_[0]{clients}[0]{waiters} == 0
                          && $_[0]{websockets} == 1 });
[ scalar(@got), $got[5], "waiters=$s->{clients}[0]{waiters}" ];
--- ws_response
30
5=testmsg6
waiters=0



=== TEST 8: a client leaving while its list offset runs in the thread pool
--- config eval
$::CONFIG . <<'EOF';
    location = /down {
        pubsub_kafka_pass kafka://127.0.0.1:1;
    }
EOF
--- ws_code
my $c = ws_connect(path => '/down');
$c->send_req(sequence => 1, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
$c->close;
# its look-up ends after pubsub_kafka_timeout and finds nobody to answer
# (it logs nothing then); one posted later with the same timeout ends
# after it
my $c2 = ws_connect(path => '/down');
$c2->send_req(sequence => 2, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
my $second = $c2->recv_line;
my ($pong) = command($ws, cmd_ping => state => 'alive');
[ $second, $pong ];
--- ws_response_like
\Aseq=2 error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"
pong state="alive"\z
--- no_error_log
[alert]
