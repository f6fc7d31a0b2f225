# Hostile input, command by command: names empty or of 1 MiB, negative and
# huge partitions and offsets, 100,000 partitions or headers in one
# request, windows and credit at their limits, unknown subscriptions,
# repeated fields, wrong wire types, deep nesting.  Each gets its
# documented error (APISIX's commands code 0, the extension's a 4xx), the
# connection answers the next request, the worker stays and its memory
# does not grow with what was sent.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Push qw(subscribe push_messages sub_answer render_resp);
use JSON::PP ();

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_max_message_size 2m;
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 2s;
        pubsub_kafka_write t;
        pubsub_kafka_groups g;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

our $KAFKA = <<'EOF';
topic: t 2
produce_n t 0 3 m
EOF

my %DEFAULTS = (
    config       => $CONFIG,
    kafka        => $KAFKA,
    ws_path      => '/kafka',
    timeout      => 20,
    no_error_log => "[error]\n[crit]\n[alert]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $SEQ = 0;
our %ENCODED;
our %ROWS;

sub mib { 1024 * 1024 }

# answer($ws, cmd => {args}) or answer($ws, raw => sub { BYTES }): the
# answer to one request, rendered without its sequence, which must be the
# request's ($SEQ + 1, given to the raw request's sub).  A subscription
# that starts is unsubscribed at once.
sub answer {
    my ($ws, $cmd, $args) = @_;
    my $seq = ++$SEQ;
    if ($cmd eq 'raw') {
        $ws->send(ws_binary($args->($seq)));
    } else {
        # the command encoded once: requests of 100,000 entries take Perl
        # a while.  The entry keeps its arguments alive: keyed by address
        # alone, a freed hash's address comes back for another command,
        # which then went out as the freed one's bytes.
        my $hit = $ENCODED{"$args"} //= [ $args, pb_encode('PubSubReq',
                                                   [ $cmd => $args ]) ];
        $ws->send(ws_binary(seq($seq) . $hit->[1]));
    }
    my $line = render_resp(sub_answer($ws, $seq, 15));
    if ($line =~ /^subscribe /) {
        $ws->send_req(sequence => $seq, cmd_kafka_unsubscribe =>
                      { subscription => $seq });
        my $end;
        do { $end = render_resp(sub_answer($ws, $seq, 15)) }
            until $end =~ /^subscribe ended/;
    }
    return $line;
}

# table($ws, [ what, cmd => {args} ] or [ what, raw => sub { BYTES } ], ...):
# "what: answer" lines, long names shortened to x{N}, and a last line of
# a ping answered after them
sub table {
    my ($ws, @rows) = @_;
    my @out;
    for my $row (@rows) {
        my ($what, $cmd, $args) = @$row;
        my $line = eval { answer($ws, $cmd, $args) } // "died: $@";
        $line =~ s/\n//g;
        $line =~ s/(x{20,})/'x{' . length($1) . '}'/ge;
        push @out, "$what: $line";
    }
    push @out, 'still answers: ' . answer($ws, cmd_ping => { state => 'ok' });
    return \@out;
}

sub seq { pb_field(1, varint => $_[0]) }

# kB resident of the worker serving /status (the only one)
sub worker_rss {
    my $status = JSON::PP::decode_json(http_get('/status')->{body});
    open my $fh, '<', "/proc/$status->{pid}/status"
        or die "/proc/$status->{pid}/status: $!\n";
    my ($rss) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$fh>;
    return $rss;
}

sub read_rows {
    return @{ $ROWS{read_rows} } if $ROWS{read_rows};
    my $big = 'x' x mib();
    return @{ $ROWS{read_rows} = [
    [ 'list, empty topic', cmd_kafka_list_offset =>
        { topic => '', partition => 0, timestamp => -1 } ],
    [ 'list, 1 MiB topic', cmd_kafka_list_offset =>
        { topic => $big, partition => 0, timestamp => -1 } ],
    [ 'list, partition -1', cmd_kafka_list_offset =>
        { topic => 't', partition => -1, timestamp => -1 } ],
    [ 'list, partition 2^31-1', cmd_kafka_list_offset =>
        { topic => 't', partition => 2147483647, timestamp => -1 } ],
    [ 'list, timestamp -3', cmd_kafka_list_offset =>
        { topic => 't', partition => 0, timestamp => -3 } ],
    [ 'list, timestamp 2^63-1', cmd_kafka_list_offset =>
        { topic => 't', partition => 0, timestamp => 9223372036854775807 } ],
    [ 'fetch, empty topic', cmd_kafka_fetch =>
        { topic => '', partition => 0, offset => 0 } ],
    [ 'fetch, 1 MiB topic', cmd_kafka_fetch =>
        { topic => $big, partition => 0, offset => 0 } ],
    [ 'fetch, topic ..', cmd_kafka_fetch =>
        { topic => '..', partition => 0, offset => 0 } ],
    [ 'fetch, partition -1', cmd_kafka_fetch =>
        { topic => 't', partition => -1, offset => 0 } ],
    [ 'fetch, partition 2^31-1', cmd_kafka_fetch =>
        { topic => 't', partition => 2147483647, offset => 0 } ],
    [ 'fetch, offset -5', cmd_kafka_fetch =>
        { topic => 't', partition => 0, offset => -5 } ],
    [ 'fetch, offset 2^63-1', cmd_kafka_fetch =>
        { topic => 't', partition => 0, offset => 9223372036854775807 } ],
    ] };
}

sub subscribe_rows {
    return @{ $ROWS{subscribe_rows} } if $ROWS{subscribe_rows};
    my $big = 'x' x mib();
    my $many = [ map { { partition => $_ } } 0 .. 99_999 ];
    my $headers = [ map { { key => "h$_", value => 'v' } } 1 .. 100_000 ];
    return @{ $ROWS{subscribe_rows} = [
    [ 'empty topic', cmd_kafka_subscribe =>
        { topic => '', partitions => [{ partition => 0 }] } ],
    [ '1 MiB topic', cmd_kafka_subscribe =>
        { topic => $big, partitions => [{ partition => 0 }] } ],
    [ 'topic .', cmd_kafka_subscribe =>
        { topic => '.', partitions => [{ partition => 0 }] } ],
    [ '1 MiB group', cmd_kafka_subscribe =>
        { topic => 't', group => $big, partitions => [{ partition => 0 }] } ],
    [ 'partition -1', cmd_kafka_subscribe =>
        { topic => 't', partitions => [{ partition => -1 }] } ],
    [ 'partition 2^31-1', cmd_kafka_subscribe =>
        { topic => 't', partitions => [{ partition => 2147483647 }] } ],
    [ '100,000 partitions', cmd_kafka_subscribe =>
        { topic => 't', partitions => $many } ],
    [ 'offset 2^63-1', cmd_kafka_subscribe =>
        { topic => 't', partitions => [{ partition => 1,
                                         offset => 9223372036854775807 }] } ],
    [ 'start -3', cmd_kafka_subscribe =>
        { topic => 't', all_partitions => 1, start => -3 } ],
    [ 'window -1', cmd_kafka_subscribe =>
        { topic => 't', partitions => [{ partition => 0 }], window => -1 } ],
    [ '100,000 filter headers', cmd_kafka_subscribe =>
        { topic => 't', partitions => [{ partition => 0 }],
          filter => { headers => $headers } } ],
    [ 'window 2^31-1, from the start', cmd_kafka_subscribe =>
        { topic => 't', partitions => [{ partition => 0, offset => -2 }],
          window => 2147483647 } ],
    [ 'credit, no such subscription', cmd_kafka_credit =>
        { subscription => 12345, messages => 1 } ],
    [ 'credit, subscription -1', cmd_kafka_credit =>
        { subscription => -1, messages => 1 } ],
    [ 'unsubscribe, no such subscription', cmd_kafka_unsubscribe =>
        { subscription => 12345 } ],
    [ 'unsubscribe, subscription 0', cmd_kafka_unsubscribe =>
        { subscription => 0 } ],
    ] };
}

sub produce_rows {
    return @{ $ROWS{produce_rows} } if $ROWS{produce_rows};
    my $big = 'x' x mib();
    my $headers = [ map { { key => "h$_", value => 'v' } } 1 .. 100_000 ];
    return @{ $ROWS{produce_rows} = [
    [ 'empty topic', cmd_kafka_produce => { topic => '', value => 'v' } ],
    [ '1 MiB topic', cmd_kafka_produce => { topic => $big, value => 'v' } ],
    [ 'partition -1', cmd_kafka_produce =>
        { topic => 't', partition => -1, value => 'v' } ],
    [ 'partition 2^31-1', cmd_kafka_produce =>
        { topic => 't', partition => 2147483647, value => 'v' } ],
    [ '100,000 headers', cmd_kafka_produce =>
        { topic => 't', partition => 0, value => 'v', headers => $headers } ],
    [ 'a header with no name', cmd_kafka_produce =>
        { topic => 't', partition => 0, value => 'v',
          headers => [{ value => 'v' }] } ],
    [ 'a value over 1 MiB', cmd_kafka_produce =>
        { topic => 't', partition => 0, value => $big . 'x' } ],
    [ 'timestamp -1', cmd_kafka_produce =>
        { topic => 't', partition => 0, value => 'v', timestamp => -1 } ],
    [ 'a topic not allowed', cmd_kafka_produce =>
        { topic => 'other', value => 'v' } ],
    ] };
}

sub group_rows {
    return @{ $ROWS{group_rows} } if $ROWS{group_rows};
    my $big = 'x' x mib();
    my $many = [ map { { partition => $_, offset => 1 } } 0 .. 99_999 ];
    return @{ $ROWS{group_rows} = [
    [ 'commit, empty group', cmd_kafka_commit =>
        { group => '', topic => 't', offsets => [{ partition => 0 }] } ],
    [ 'commit, 1 MiB group', cmd_kafka_commit =>
        { group => $big, topic => 't', offsets => [{ partition => 0 }] } ],
    [ 'commit, 1 MiB topic', cmd_kafka_commit =>
        { group => 'g', topic => $big, offsets => [{ partition => 0 }] } ],
    [ 'commit, no offsets', cmd_kafka_commit => { group => 'g', topic => 't' } ],
    [ 'commit, 100,000 partitions', cmd_kafka_commit =>
        { group => 'g', topic => 't', offsets => $many } ],
    [ 'commit, partition -1', cmd_kafka_commit =>
        { group => 'g', topic => 't', offsets => [{ partition => -1 }] } ],
    [ 'commit, offset -1', cmd_kafka_commit =>
        { group => 'g', topic => 't',
          offsets => [{ partition => 0, offset => -1 }] } ],
    [ 'commit, partition 2^31-1', cmd_kafka_commit =>
        { group => 'g', topic => 't',
          offsets => [{ partition => 2147483647, offset => 0 }] } ],
    [ 'committed, empty group', cmd_kafka_committed =>
        { group => '', topic => 't' } ],
    [ 'committed, 100,000 partitions', cmd_kafka_committed =>
        { group => 'g', topic => 't', partitions => [ 0 .. 99_999 ] } ],
    [ 'committed, partition -1', cmd_kafka_committed =>
        { group => 'g', topic => 't', partitions => [ -1 ] } ],
    [ 'committed, partition 2^31-1', cmd_kafka_committed =>
        { group => 'g', topic => 't', partitions => [ 2147483647 ] } ],
    ] };
}

sub wire_rows {
    return @{ $ROWS{wire_rows} } if $ROWS{wire_rows};
    my $deep = '';
    $deep = pb_field(9, bytes => $deep) for 1 .. 10_000;
    my $fetch = sub { pb_field(33, bytes => pb_encode('CmdKafkaFetch', $_[0])) };
    return @{ $ROWS{wire_rows} = [
    [ 'fetch, topic as a varint', raw => sub {
        seq($_[0]) . pb_field(33, bytes => pb_field(1, varint => 5)) } ],
    [ 'fetch, partition as bytes', raw => sub {
        seq($_[0]) . pb_field(33, bytes => pb_field(1, bytes => 't')
                                           . pb_field(2, bytes => '0')) } ],
    [ 'fetch, offset as fixed64', raw => sub {
        seq($_[0]) . pb_field(33, bytes => pb_field(3, fixed64 => 0)) } ],
    [ 'fetch itself as a varint', raw => sub {
        seq($_[0]) . pb_field(33, varint => 1) } ],
    [ 'subscribe, partitions as a varint', raw => sub {
        seq($_[0]) . pb_field(101, bytes => pb_field(1, bytes => 't')
                                            . pb_field(2, varint => 0)) } ],
    [ 'subscribe, window as fixed32', raw => sub {
        seq($_[0]) . pb_field(101, bytes => pb_field(7, fixed32 => 1)) } ],
    [ 'subscribe, filter header value as a varint', raw => sub {
        seq($_[0]) . pb_field(101, bytes => pb_field(6, bytes =>
            pb_field(2, bytes => pb_field(2, varint => 1)))) } ],
    [ 'credit, messages as bytes', raw => sub {
        seq($_[0]) . pb_field(103, bytes => pb_field(2, bytes => '1')) } ],
    [ 'produce, headers as fixed64', raw => sub {
        seq($_[0]) . pb_field(104, bytes => pb_field(1, bytes => 't')
                                            . pb_field(5, fixed64 => 1)) } ],
    [ 'committed, packed partitions cut short', raw => sub {
        seq($_[0]) . pb_field(106, bytes => pb_field(1, bytes => 'g')
                                            . pb_field(3, bytes => "\x80")) } ],
    [ 'a field key of 6 bytes', raw => sub {
        seq($_[0]) . "\x8a\x82\x80\x80\x80\x00\x00" } ],
    [ 'a length over 2^32', raw => sub {
        seq($_[0]) . "\x8a\x02\xff\xff\xff\xff\x7f" } ],
    [ 'the topic twice: the last one counts', raw => sub {
        seq($_[0]) . $fetch->([ topic => 'nope', topic => 't',
                                partition => 0, offset => 2 ]) } ],
    [ 'two commands: the last one counts', raw => sub {
        seq($_[0]) . pb_field(32, bytes => pb_field(1, bytes => 'ping'))
        . $fetch->({ topic => 't', partition => 0, offset => 2 }) } ],
    [ 'an unknown field nesting messages 10,000 deep: skipped', raw => sub {
        seq($_[0]) . pb_field(77, bytes => $deep)
        . pb_field(32, bytes => pb_field(1, bytes => 'deep')) } ],
    ] };
}

run_tests();

__DATA__

=== TEST 1: CmdKafkaListOffset and CmdKafkaFetch (APISIX's, code 0): names, partitions, offsets, times
--- ws_code
table($ws, read_rows());
--- ws_response
list, empty topic: error code=0 message="failed to list offset, topic: , partition: 0, err: invalid topic name"
list, 1 MiB topic: error code=0 message="failed to list offset, topic: x{256}..., partition: 0, err: invalid topic name"
list, partition -1: error code=0 message="failed to list offset, topic: t, partition: -1, err: invalid partition"
list, partition 2^31-1: error code=0 message="failed to list offset, topic: t, partition: 2147483647, err: _UNKNOWN_PARTITION"
list, timestamp -3: error code=0 message="failed to list offset, topic: t, partition: 0, err: timestamp must be -2, -1 or a time in ms"
list, timestamp 2^63-1: list_offset offset=-1
fetch, empty topic: error code=0 message="failed to fetch message, topic: , partition: 0, err: invalid topic name"
fetch, 1 MiB topic: error code=0 message="failed to fetch message, topic: x{256}..., partition: 0, err: invalid topic name"
fetch, topic ..: error code=0 message="failed to fetch message, topic: .., partition: 0, err: invalid topic name"
fetch, partition -1: error code=0 message="failed to fetch message, topic: t, partition: -1, err: invalid partition"
fetch, partition 2^31-1: error code=0 message="failed to fetch message, topic: t, partition: 2147483647, err: _UNKNOWN_PARTITION"
fetch, offset -5: error code=0 message="failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE"
fetch, offset 2^63-1: error code=0 message="failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE"
still answers: pong state="ok"



=== TEST 2: CmdKafkaSubscribe, CmdKafkaCredit, CmdKafkaUnsubscribe: names, partitions, windows, credit, subscriptions that do not exist
--- ws_code
table($ws, subscribe_rows());
--- ws_response
empty topic: error code=400 message="failed to subscribe, topic: , partition: 0, err: invalid topic name"
1 MiB topic: error code=400 message="failed to subscribe, topic: x{256}..., partition: 0, err: invalid topic name"
topic .: error code=400 message="failed to subscribe, topic: ., partition: 0, err: invalid topic name"
1 MiB group: error code=400 message="failed to subscribe, topic: t, err: group name over 255 bytes"
partition -1: error code=400 message="failed to subscribe, topic: t, partition: -1, err: negative partition"
partition 2^31-1: error code=404 message="subscription failed, topic: t, partition: 2147483647, err: _UNKNOWN_PARTITION"
100,000 partitions: error code=400 message="failed to subscribe, topic: t, err: more partitions than \"pubsub_kafka_max_partitions\""
offset 2^63-1: subscribe 1@0
start -3: error code=400 message="failed to subscribe, topic: t, err: start must be -2, -1, 0 or a time in ms"
window -1: error code=400 message="failed to subscribe, topic: t, err: negative window"
100,000 filter headers: error code=400 message="failed to subscribe, topic: t, err: more than 64 headers in the filter"
window 2^31-1, from the start: subscribe 0@0
credit, no such subscription: error code=404 message="no subscription 12345 on this connection"
credit, subscription -1: error code=404 message="no subscription -1 on this connection"
unsubscribe, no such subscription: error code=404 message="no subscription 12345 on this connection"
unsubscribe, subscription 0: error code=404 message="no subscription 0 on this connection"
still answers: pong state="ok"



=== TEST 3: credit overflowing int32, 140,000 times: the window stays open, pushes go on in order
--- ws_code
my @out;
push @out, subscribe($ws, 1, topic => 't', window => 2,
                     partitions => [{ partition => 0, offset => -2 }]);
push @out, @{ push_messages($ws, 1, 2) };
$ws->send(join '', map { ws_binary(pb_req(sequence => 2, cmd_kafka_credit =>
    { subscription => 1, messages => 2147483647 })) } 1 .. 140_000);
mock_cmd("produce_n t 0 5 late");
push @out, @{ push_messages($ws, 1, 6, timeout => 15) };
for my $n (0, -5) {
    $ws->send_req(sequence => 3, cmd_kafka_credit =>
                  { subscription => 1, messages => $n });
    # behind what is left of the 140,000 credits (slow under valgrind)
    push @out, "credit $n: " . render_resp(sub_answer($ws, 3, 30));
}
push @out, 'still answers: ' . answer($ws, cmd_ping => { state => 'ok' });
\@out;
--- ws_response
subscribe 0@0
p0 0=m1
p0 1=m2
p0 2=m3
p0 3=late1
p0 4=late2
p0 5=late3
p0 6=late4
p0 7=late5
credit 0: error code=400 message="credit must be above 0, not 0"
credit -5: error code=400 message="credit must be above 0, not -5"
still answers: pong state="ok"



=== TEST 4: CmdKafkaProduce: names, partitions, 100,000 headers, a record over the limit, times
--- ws_code
table($ws, produce_rows());
--- ws_response
empty topic: error code=400 message="failed to produce, topic: , partition: 0, err: invalid topic name"
1 MiB topic: error code=400 message="failed to produce, topic: x{256}..., partition: 0, err: invalid topic name"
partition -1: error code=400 message="failed to produce, topic: t, partition: -1, err: negative partition"
partition 2^31-1: error code=404 message="failed to produce, topic: t, partition: 2147483647, err: _UNKNOWN_PARTITION"
100,000 headers: error code=400 message="failed to produce, topic: t, partition: 0, err: more headers than \"pubsub_kafka_produce_max_headers\""
a header with no name: error code=400 message="failed to produce, topic: t, partition: 0, err: a header with no name"
a value over 1 MiB: error code=400 message="failed to produce, topic: t, partition: 0, err: record over \"pubsub_kafka_produce_max_size\""
timestamp -1: error code=400 message="failed to produce, topic: t, partition: 0, err: negative timestamp"
a topic not allowed: error code=403 message="topic \"other\" not allowed"
still answers: pong state="ok"



=== TEST 5: CmdKafkaCommit and CmdKafkaCommitted: groups, 100,000 partitions, offsets
--- ws_code
table($ws, group_rows());
--- ws_response
commit, empty group: error code=400 message="failed to commit, topic: t, err: empty group"
commit, 1 MiB group: error code=400 message="failed to commit, topic: t, err: group name over 255 bytes"
commit, 1 MiB topic: error code=400 message="failed to commit, topic: x{256}..., partition: 0, err: invalid topic name"
commit, no offsets: error code=400 message="failed to commit, group: g, topic: t, err: no offsets"
commit, 100,000 partitions: error code=400 message="failed to commit, group: g, topic: t, err: more partitions than \"pubsub_kafka_max_partitions\""
commit, partition -1: error code=400 message="failed to commit, group: g, topic: t, partition: -1, err: negative partition"
commit, offset -1: error code=400 message="failed to commit, group: g, topic: t, partition: 0, err: negative offset"
commit, partition 2^31-1: error code=404 message="failed to commit, group: g, topic: t, partition: 2147483647, err: _UNKNOWN_PARTITION"
committed, empty group: error code=400 message="failed to read committed offsets, topic: t, err: empty group"
committed, 100,000 partitions: error code=400 message="failed to read committed offsets, group: g, topic: t, err: more partitions than \"pubsub_kafka_max_partitions\""
committed, partition -1: error code=400 message="failed to read committed offsets, group: g, topic: t, partition: -1, err: negative partition"
committed, partition 2^31-1: error code=404 message="failed to read committed offsets, group: g, topic: t, partition: 2147483647, err: UNKNOWN_TOPIC_OR_PART"
still answers: pong state="ok"



=== TEST 6: wire types, repeated fields, nesting: the field at fault is named; of a field or command sent twice, the last one counts
--- ws_code
table($ws, wire_rows());
--- ws_response
fetch, topic as a varint: error code=0 message="malformed request: CmdKafkaFetch.topic has wire type varint, not length-delimited"
fetch, partition as bytes: error code=0 message="malformed request: CmdKafkaFetch.partition has wire type length-delimited, not varint"
fetch, offset as fixed64: error code=0 message="malformed request: CmdKafkaFetch.offset has wire type 64-bit, not varint"
fetch itself as a varint: error code=0 message="malformed request: PubSubReq.cmd_kafka_fetch has wire type varint, not length-delimited"
subscribe, partitions as a varint: error code=400 message="malformed request: CmdKafkaSubscribe.partitions has wire type varint, not length-delimited"
subscribe, window as fixed32: error code=400 message="malformed request: CmdKafkaSubscribe.window has wire type 32-bit, not varint"
subscribe, filter header value as a varint: error code=400 message="malformed request: CmdKafkaSubscribe.filter.headers.value has wire type varint, not length-delimited"
credit, messages as bytes: error code=400 message="malformed request: CmdKafkaCredit.messages has wire type length-delimited, not varint"
produce, headers as fixed64: error code=400 message="malformed request: CmdKafkaProduce.headers has wire type 64-bit, not length-delimited"
committed, packed partitions cut short: error code=400 message="malformed request: CmdKafkaCommitted.partitions is cut short"
a field key of 6 bytes: error code=0 message="malformed request: PubSubReq has a field key over 5 bytes"
a length over 2^32: error code=0 message="malformed request: PubSubReq.cmd_kafka_fetch is cut short"
the topic twice: the last one counts: fetch 2="m3"
two commands: the last one counts: fetch 2="m3"
an unknown field nesting messages 10,000 deep: skipped: pong state="deep"
still answers: pong state="ok"



=== TEST 7: memory: every table 3 times over; the worker's resident memory after the last round is within 16 MiB of after the first
--- no_valgrind
--- timeout: 60
--- ws_code
my @rounds;
for my $round (1 .. 3) {
    for my $rows ([ read_rows() ], [ subscribe_rows() ], [ produce_rows() ],
                  [ group_rows() ], [ wire_rows() ]) {
        my $out = table($ws, @$rows);
        die "round $round: $out->[-1]\n" unless $out->[-1] =~ /pong/;
    }
    push @rounds, worker_rss();
}
my $growth = $rounds[-1] - $rounds[0];
[ "3 rounds answered",
  "grew by less than 16 MiB: " . ($growth < 16 * 1024 ? 'yes'
                                  : "no, by $growth kB: @rounds") ];
--- ws_response
3 rounds answered
grew by less than 16 MiB: yes
