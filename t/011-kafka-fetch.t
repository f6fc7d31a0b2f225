# Fetch semantics of the Kafka backend: waiting at the tail, the size
# bound of a response, readers at old offsets next to tailing ones,
# invalid requests, timestamps and keys, and pubsub_max_inflight.

use lib 't/lib';
use Test::PubSub;
use JSON::PP ();

# All locations have the same Kafka settings, so they share one client
# (and its windows); they differ in how long and how much a fetch gets.
our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 200ms;
    }
    location = /long {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /small {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 200ms;
        pubsub_kafka_fetch_max_bytes 60;
    }
    location = /inflight {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 200ms;
        pubsub_max_inflight 2;
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

# One fetch; the response's messages (array ref of KafkaMessage hashes).
# Dies on anything but a fetch response to this request.
sub fetch_once {
    my ($ws, $topic, $offset) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, cmd_kafka_fetch =>
        { topic => $topic, partition => 0, offset => $offset });
    my $r = $ws->recv_resp;
    die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
    my $f = $r->{kafka_fetch_resp}
        or die 'not a fetch response: '
               . pb_resp_render(pb_resp_encode($r)) . "\n";
    return $f->{messages};
}

# Fetches $topic p0 from $from through $to, each time at the offset after
# the last message; returns the responses (array ref of message lists).
# Dies on a gap, a message out of place, or no progress.
sub fetch_range {
    my ($ws, $topic, $from, $to) = @_;
    my (@responses, $tries);
    my $next = $from;
    while ($next <= $to) {
        die "no progress at $next\n" if ++$tries > 300;
        my $msgs = fetch_once($ws, $topic, $next);
        next unless @$msgs;
        for my $m (@$msgs) {
            die "got offset $m->{offset}, want $next\n"
                unless $m->{offset} == $next;
            $next++;
        }
        push @responses, $msgs;
    }
    return \@responses;
}

sub lines_of {
    my ($responses) = @_;
    return map { "$_->{offset}=$_->{value}" } map { @$_ } @$responses;
}

# Bytes a message takes in a KafkaFetchResp ("repeated messages = 1").
sub entry_size {
    my ($m) = @_;
    return length pb_field(1, bytes => pb_encode('KafkaMessage', $m));
}

sub list_offset {
    my ($ws, $topic, $ts) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, cmd_kafka_list_offset =>
        { topic => $topic, partition => 0, timestamp => $ts });
    my $r = $ws->recv_resp;
    my $l = $r->{kafka_list_offset_resp}
        or die 'not a list offset response: '
               . pb_resp_render(pb_resp_encode($r)) . "\n";
    return $l->{offset};
}

run_tests();

__DATA__

=== TEST 1: fetch at the end with nothing produced: empty after fetch_max_wait
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 })),
  ws_binary(pb_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 })) ]
--- ws_response
seq=1 list_offset offset=30
seq=2 fetch



=== TEST 2: a fetch waiting at the tail gets a message produced meanwhile
--- ws_path: /long
--- ws_code
my $end = list_offset($ws, 'test-consumer', -1);
$ws->send_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => $end });
my $produced = mock_cmd('produce test-consumer 0 late key=k1');
[ "end=$end", $produced, $ws->recv_line ];
--- ws_response
end=30
ok 30
seq=2 fetch 30[k1]="late"



=== TEST 3: pubsub_kafka_fetch_max_bytes bounds each response; a bigger message comes alone
--- kafka
topic: sized 1
produce_batch sized 0 30 testmsg
produce_n sized 0 1 big size=200
produce_n sized 0 3 tail
--- ws_code
# fill the shared window first (1 MiB responses), so that every /small
# response below is cut by the size bound, not by what arrived so far
my $all = fetch_range($ws, 'sized', 0, 33);
my @all = map { @$_ } @$all;
my $small = ws_connect(path => '/small');
my $parts = fetch_range($small, 'sized', 0, 33);
my @problems;
for my $i (0 .. $#$parts) {
    my @m = @{ $parts->[$i] };
    my $size = 0;
    $size += entry_size($_) for @m;
    my $first = $m[0]{offset};
    push @problems, "response at $first: $size bytes in " . @m . " messages"
        if @m > 1 && $size > 60;
    my $next = $all[ $m[-1]{offset} + 1 ];
    push @problems, "response at $first: the next message would have fit"
        if $next && $size + entry_size($next) <= 60;
}
my ($big) = grep { $_->[0]{offset} == 30 } @$parts;
[ join(' ', lines_of($all)) eq join(' ', lines_of($parts))
      ? 'same messages' : 'different messages',
  'responses: ' . (@$parts > 4 ? 'many' : scalar @$parts),
  @problems,
  'big: ' . join(' ', map { "$_->{offset}:" . length $_->{value} } @$big) ];
--- ws_response
same messages
responses: many
big: 30:200



=== TEST 4: a reader at old offsets and one at the tail both get the right data
--- ws_path: /long
--- ws_code
my $tail = ws_connect(path => '/long');
my $end = list_offset($tail, 'test-consumer', -1);
$tail->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => $end });
my $history = fetch_range($ws, 'test-consumer', 0, 29);
# the history reader now waits at the tail too
$ws->send_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => $end });
my $produced = mock_cmd('produce test-consumer 0 new');
my @tail_got;
my $r = $tail->recv_resp;
for (1 .. 20) {
    last if @{ $r->{kafka_fetch_resp}{messages} || [] };
    # fetch_max_wait ran out before the message: ask again
    $tail->send_req(sequence => 1, cmd_kafka_fetch =>
        { topic => 'test-consumer', partition => 0, offset => $end });
    $r = $tail->recv_resp;
}
my $h = $ws->recv_resp;
[ "end=$end", $produced, lines_of($history),
  'tail: ' . pb_resp_render(pb_resp_encode($r)),
  'history: ' . pb_resp_render(pb_resp_encode($h)) ];
--- ws_response eval
join "\n", 'end=30', 'ok 30', (map { "$_=testmsg" . ($_ + 1) } 0 .. 29),
    'tail: seq=1 fetch 30="new"', 'history: seq=2 fetch 30="new"';



=== TEST 5: invalid fetches: negative offset, empty topic, negative partition, missing partition
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => -1 })),
  ws_binary(pb_req(sequence => 2, cmd_kafka_fetch =>
    { topic => '', partition => 0, offset => 0 })),
  ws_binary(pb_req(sequence => 3, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => -1, offset => 0 })),
  ws_binary(pb_req(sequence => 4, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 7, offset => 0 })),
  ws_binary(pb_req(sequence => 5, cmd_kafka_list_offset =>
    { topic => '', partition => 0, timestamp => -1 })),
  ws_binary(pb_req(sequence => 6, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => -3, timestamp => -1 })) ]
--- ws_code
my %by_seq;
for (1 .. 6) {
    my $line = $ws->recv_line;
    $by_seq{$1} = $line if $line =~ /^seq=(\d+) /;
}
[ map { $by_seq{$_} // "seq $_ missing" } 1 .. 6 ];
--- ws_response_like
\Aseq=1 error code=0 message="failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE"
seq=2 error code=0 message="failed to fetch message, topic: , partition: 0, err: invalid topic name"
seq=3 error code=0 message="failed to fetch message, topic: test-consumer, partition: -1, err: invalid partition"
seq=4 error code=0 message="failed to fetch message, topic: test-consumer, partition: 7, err: (?:_UNKNOWN_PARTITION|UNKNOWN_TOPIC_OR_PART)"
seq=5 error code=0 message="failed to list offset, topic: , partition: 0, err: invalid topic name"
seq=6 error code=0 message="failed to list offset, topic: test-consumer, partition: -3, err: invalid partition"\z



=== TEST 6: list offset by timestamp: the mock answers -1; the timestamp reaches librdkafka unchanged
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0,
      timestamp => 1500000000000 })) ]
--- ws_response
seq=1 list_offset offset=-1
--- error_log
pubsub: kafka offsets_for_times("test-consumer", 0, 1500000000000)



=== TEST 7: messages carry their key and timestamp
--- kafka
topic: keyed 1
produce keyed 0 hello key=abc ts=1500000000123
produce keyed 0 %00bin%ff ts=1
--- ws_code
my @out;
my $next = 0;
for (1 .. 20) {
    last if $next > 1;
    $ws->send_req(sequence => 7, cmd_kafka_fetch =>
        { topic => 'keyed', partition => 0, offset => $next });
    my $r = $ws->recv_resp;
    for my $m (@{ $r->{kafka_fetch_resp}{messages} }) {
        push @out, "offset=$m->{offset} ts=$m->{timestamp}"
            . ' key=' . quote_bytes($m->{key})
            . ' value=' . quote_bytes($m->{value});
        $next = $m->{offset} + 1;
    }
}
\@out;
--- ws_response
offset=0 ts=1500000000123 key="abc" value="hello"
offset=1 ts=1 key="" value="\x00bin\xff"



=== TEST 8: pubsub_max_inflight 2: a third fetch is refused at once, the others answer later
--- ws_path: /inflight
--- ws_code
my $end = list_offset($ws, 'test-consumer', -1);
$ws->send(join '', map {
    ws_binary(pb_req(sequence => $_, cmd_kafka_fetch =>
        { topic => 'test-consumer', partition => 0, offset => $end }))
} 1 .. 3);
my $first = $ws->recv_line;
my @later = sort ($ws->recv_line, $ws->recv_line);
# both slots are free again
$ws->send_req(sequence => 4, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
[ $first, @later, $ws->recv_line ];
--- ws_response
seq=3 error code=0 message="too many commands in flight"
seq=1 fetch
seq=2 fetch
seq=4 list_offset offset=30



=== TEST 9: fetch one past the end: OFFSET_OUT_OF_RANGE; at the end: waits
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 31 })),
  ws_binary(pb_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 })) ]
--- ws_response
seq=1 error code=0 message="failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE"
seq=2 fetch



=== TEST 10: topic names: 250 bytes is too long, 249 is fine; list offset of a missing partition
--- ws_code
my @out;
my ($l250) = ('t' x 250);
$ws->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => $l250, partition => 0, offset => 0 });
push @out, $ws->recv_line =~ s/t{250}/T250/r;
$ws->send_req(sequence => 2, cmd_kafka_list_offset =>
    { topic => $l250, partition => 0, timestamp => -1 });
push @out, $ws->recv_line =~ s/t{250}/T250/r;
$ws->send_req(sequence => 3, cmd_kafka_list_offset =>
    { topic => 't' x 249, partition => 0, timestamp => -1 });
push @out, $ws->recv_line;
$ws->send_req(sequence => 4, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 7, timestamp => -1 });
push @out, $ws->recv_line;
\@out;
--- ws_response_like
\Aseq=1 error code=0 message="failed to fetch message, topic: T250, partition: 0, err: invalid topic name"
seq=2 error code=0 message="failed to list offset, topic: T250, partition: 0, err: invalid topic name"
seq=3 list_offset offset=0
seq=4 error code=0 message="failed to list offset, topic: test-consumer, partition: 7, err: (?:_UNKNOWN_PARTITION|UNKNOWN_TOPIC_OR_PART)"\z



=== TEST 11: two fetches of one connection waiting at the tail both get the new message
--- ws_path: /long
--- ws_code
my $end = list_offset($ws, 'test-consumer', -1);
$ws->send(join '', map {
    ws_binary(pb_req(sequence => $_, cmd_kafka_fetch =>
        { topic => 'test-consumer', partition => 0, offset => $end }))
} 1 .. 2);
my $produced = mock_cmd('produce test-consumer 0 both');
[ $produced, sort $ws->recv_line, $ws->recv_line ];
--- ws_response
ok 30
seq=1 fetch 30="both"
seq=2 fetch 30="both"



=== TEST 12: small windows: two readers at different old offsets and one at the tail
--- config eval
my $c = $::CONFIG;
$c =~ s/(pubsub_kafka_property fetch.wait.max.ms 10;)/$1\n    pubsub_kafka_buffer_size 200;/;
$c;
--- ws_path: /long
--- ws_code
my $tail = ws_connect(path => '/long');
my $end = list_offset($tail, 'test-consumer', -1);
$tail->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => $end });
my $b = ws_connect(path => '/long');
my %next = (a => 0, b => 12);
my %conn = (a => $ws, b => $b);
my %got = (a => [], b => []);
my $rounds = 0;
# the two readers take turns, so the catching-up cursor has to move
# back and forth
while (($next{a} < 30 || $next{b} < 30) && ++$rounds < 300) {
    for my $who (qw(a b)) {
        next if $next{$who} >= 30;
        my $msgs = fetch_once($conn{$who}, 'test-consumer', $next{$who});
        for my $m (@$msgs) {
            die "$who: offset $m->{offset}, want $next{$who}\n"
                unless $m->{offset} == $next{$who};
            push @{ $got{$who} }, "$m->{offset}=$m->{value}";
            $next{$who}++;
        }
    }
}
my $produced = mock_cmd('produce test-consumer 0 last');
my $t = $tail->recv_line;
for (1 .. 10) {
    last unless $t eq 'seq=1 fetch';
    $tail->send_req(sequence => 1, cmd_kafka_fetch =>
        { topic => 'test-consumer', partition => 0, offset => $end });
    $t = $tail->recv_line;
}
[ "a: @{ $got{a} }", "b: @{ $got{b} }", $produced, $t ];
--- ws_response eval
join "\n",
    'a: ' . join(' ', map { "$_=testmsg" . ($_ + 1) } 0 .. 29),
    'b: ' . join(' ', map { "$_=testmsg" . ($_ + 1) } 12 .. 29),
    'ok 30', 'seq=1 fetch 30="last"';



=== TEST 13: messages larger than a window block, and windows trimmed across blocks, come back exact
--- config eval
my $c = $::CONFIG;
$c =~ s/(pubsub_kafka_property fetch.wait.max.ms 10;)/$1\n    pubsub_kafka_buffer_size 300k;/;
$c;
--- kafka
topic: blocks 1
produce_batch blocks 0 500 small size=100
produce_n blocks 0 2 big size=70000
produce_batch blocks 0 500 mid size=300
produce_n blocks 0 1 huge size=200000
produce_batch blocks 0 200 end
--- ws_code
# what the mock produced at each offset: a prefix, a count from 1, dots
my @want;
for my $run ([small => 500, 100], [big => 2, 70000], [mid => 500, 300],
             [huge => 1, 200000], [end => 200, 0]) {
    my ($prefix, $n, $size) = @$run;
    for my $i (1 .. $n) {
        my $v = "$prefix$i";
        $v .= '.' x ($size - length $v) if length $v < $size;
        push @want, $v;
    }
}
# twice from the start, the second after the windows moved on
my @report;
for my $pass (1, 2) {
    my $conn = $pass == 1 ? $ws : ws_connect(path => '/kafka');
    my @got = map { @$_ } @{ fetch_range($conn, 'blocks', 0, $#want) };
    my @bad = grep { $got[$_]{value} ne $want[$_] } 0 .. $#want;
    push @report, "pass $pass: " . @got . ' messages, '
        . (@bad ? "wrong at @bad[0 .. ($#bad > 4 ? 4 : $#bad)]" : 'all exact');
}
my $st = http_get('/status');
my $win = JSON::PP::decode_json($st->{body})->{clients}[0]{window_bytes};
push @report, $win <= 2 * 300 * 1024 ? 'windows within their bound'
                                     : "window_bytes $win";
\@report;
--- ws_response
pass 1: 1203 messages, all exact
pass 2: 1203 messages, all exact
windows within their bound
