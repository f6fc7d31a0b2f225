# Readers: clients at scattered offsets of one partition are served by
# one sweep over the range, not one seek each; librdkafka handles and
# Kafka connections do not grow with the clients.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Push qw(subscribe push_messages);
use JSON::PP ();
use Time::HiRes qw(time sleep);

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_property statistics.interval.ms 100;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

my %DEFAULTS = (
    config       => $CONFIG,
    ws_path      => '/kafka',
    timeout      => 20,
    no_error_log => "[error]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body})->{clients}[0];
}

# N offsets spread over [0, $last), in an order that sends some clients
# behind others
sub scattered {
    my ($n, $last) = @_;
    my @o = map { int($_ * $last / $n) } 0 .. $n - 1;
    return @o[ map { ($_ * 17 + int($n / 2)) % $n } 0 .. $n - 1 ];
}

run_tests();

__DATA__

=== TEST 1: 50 fetch clients at 50 offsets over 30,000 messages: exact answers, a few seeks, two handles
--- kafka
topic: wide 1
produce_batch wide 0 30000 m size=100
--- ws_code
my @offsets = scattered(50, 29700);
my @clients = map { ws_connect(path => "/kafka") } @offsets;
my @next = @offsets;
my @got = (0) x @offsets;
my $bad = 0;
for my $round (1 .. 100) {
    my @active = grep { $got[$_] < 300 } 0 .. $#clients;
    last unless @active;
    for my $i (@active) {
        $clients[$i]->send_req(sequence => $i + 1, cmd_kafka_fetch =>
            { topic => 'wide', partition => 0, offset => $next[$i] });
    }
    for my $i (@active) {
        my $r = $clients[$i]->recv_resp;
        my $msgs = $r->{kafka_fetch_resp}{messages}
            or die "client $i: " . pb_resp_render(pb_resp_encode($r)) . "\n";
        for my $m (@$msgs) {
            $bad++ unless $m->{offset} == $next[$i]
                && $m->{value} =~ /^m@{[ $next[$i] + 1 ]}\.*$/;
            $next[$i]++;
            $got[$i]++;
        }
    }
}
my $s = status();
my ($p) = @{ $s->{partition_list} };
[ "clients " . scalar(@clients),
  "messages each at least 300: " . (grep({ $_ >= 300 } @got) == @got
                                    ? 'yes' : "no (@got)"),
  "wrong or out of order: $bad",
  "handles $s->{handles}",
  "connections at most 2: " . ($s->{connections} <= 2
                               ? 'yes' : $s->{connections}),
  "reads started or moved at most 4: "
      . ($p->{starts} + $p->{seeks} <= 4 ? 'yes'
                                         : "$p->{starts} + $p->{seeks}"),
  "readers at most 2: " . ($s->{readers} <= 2 ? 'yes' : $s->{readers}) ];
--- ws_response
clients 50
messages each at least 300: yes
wrong or out of order: 0
handles 2
connections at most 2: yes
reads started or moved at most 4: yes
readers at most 2: yes



=== TEST 2: 10 subscribers at 10 offsets over 3,000 messages each reach the tail with no gap, in one sweep
--- kafka
topic: wide 1
produce_batch wide 0 3000 m size=50
--- ws_code
my @offsets = scattered(10, 2900);
my @subs = map { ws_connect(path => "/kafka") } @offsets;
my @out;
for my $i (0 .. $#subs) {
    my $first = subscribe($subs[$i], 1, topic => 'wide',
                          partitions => [{ partition => 0,
                                           offset => $offsets[$i] }]);
    push @out, "start wrong: $first" unless $first eq "subscribe 0\@$offsets[$i]";
}
my $bad = 0;
for my $i (0 .. $#subs) {
    my $m = push_messages($subs[$i], 1, 3000 - $offsets[$i], timeout => 10);
    $bad++ unless @$m == 3000 - $offsets[$i]
        && $m->[0] =~ /^p0 $offsets[$i]=m@{[ $offsets[$i] + 1 ]}\./
        && $m->[-1] =~ /^p0 2999=m3000\./;
}
push @out, "subscribers short of the tail: $bad";
my $s = status();
my ($p) = @{ $s->{partition_list} };
push @out, "reads started or moved at most 4: "
           . ($p->{starts} + $p->{seeks} <= 4 ? 'yes'
                                              : "$p->{starts} + $p->{seeks}"),
           "subscriptions $p->{subscriptions}";
\@out;
--- ws_response
subscribers short of the tail: 0
reads started or moved at most 4: yes
subscriptions 10



=== TEST 3: a fetch loop through history longer than the window: answers carry batches, not one message each, and the reader seldom pauses
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_buffer_size 64k;
        pubsub_kafka_fetch_max_bytes 8k;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- kafka
topic: hist 1
produce_batch hist 0 2000 m size=200
--- ws_code
my ($offset, $answers, $single, $bad) = (0, 0, 0, 0);
my $seq = 0;
while ($offset < 2000) {
    $ws->send_req(sequence => ++$seq, cmd_kafka_fetch =>
                  { topic => 'hist', partition => 0, offset => $offset });
    my $r = $ws->recv_resp;
    my $m = $r->{kafka_fetch_resp}{messages} or die "not a fetch answer\n";
    $answers++;
    $single++ if @$m == 1;
    for (@$m) {
        $bad++ unless $_->{offset} == $offset;
        $offset++;
    }
}
my $p = status()->{partition_list}[0];
[ "2000 messages in order: " . ($bad ? "no, $bad out of place" : 'yes'),
  "answers of one message: "
  . ($single * 10 < $answers ? 'few' : "$single of $answers"),
  "resumes after a pause: "
  . ($p->{resumes} * 4 < $answers ? 'few' : "$p->{resumes} for $answers") ];
--- ws_response
2000 messages in order: yes
answers of one message: few
resumes after a pause: few




=== TEST 4: history read to its end with nobody waiting there: that reader becomes the tail reader, whose window serves the next pass
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_property max.partition.fetch.bytes 65536;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_buffer_size 8m;
        pubsub_kafka_fetch_max_bytes 64k;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- kafka
topic: again 1
produce_batch again 0 20000 m size=200
--- ws_code
# the window holds all 20,000 messages, which Kafka sends 64k at a time:
# after its first answer the client waits until the reader is at the end,
# then it is served from the window; each pass fetches up to the last
# message, never at the end itself
my $seq = 0;
my $pass = sub {
    my ($offset, $bad) = (0, 0);
    while ($offset < 20000) {
        $ws->send_req(sequence => ++$seq, cmd_kafka_fetch =>
                      { topic => 'again', partition => 0,
                        offset => $offset });
        my $m = $ws->recv_resp->{kafka_fetch_resp}{messages}
            or die "not a fetch answer\n";
        for (@$m) {
            $bad++ unless $_->{offset} == $offset
                && $_->{value} =~ /^m@{[ $offset + 1 ]}\./;
            $offset++;
        }
        # the reader goes on alone to the end meanwhile
        sleep 1 if $seq == 1;
    }
    return $bad;
};
my $tail = sub {
    my ($r) = grep { $_->{tail} } @{ status()->{partition_list}[0]{reading} };
    return $r ? "tail at $r->{next}" : 'no tail';
};
my @out = ("pass 1 wrong: " . $pass->());
push @out, "after pass 1: " . $tail->();
push @out, "pass 2 wrong: " . $pass->();
my $p = status()->{partition_list}[0];
push @out, "after pass 2: " . $tail->() . ", readers started $p->{starts}, "
           . "moved $p->{seeks}";
\@out;
--- ws_response
pass 1 wrong: 0
after pass 1: tail at 20000
pass 2 wrong: 0
after pass 2: tail at 20000, readers started 1, moved 0



=== TEST 5: the messages librdkafka hands the worker are freed by a pool thread, none is left waiting for one, and the window's memory counts its entries
--- kafka
topic: freed 1
produce_batch freed 0 20000 m size=100
--- ws_code
# librdkafka's broker thread allocated them; freed on the event loop, each
# free would wait for that thread's malloc arena (see _task.c).  Drains of
# fewer than 256 are freed on the loop; Kafka's answers of 64k-1m make
# drains of thousands here
my ($offset, $bad) = (0, 0);
my $seq = 0;
while ($offset < 20000) {
    $ws->send_req(sequence => ++$seq, cmd_kafka_fetch =>
                  { topic => 'freed', partition => 0, offset => $offset });
    my $m = $ws->recv_resp->{kafka_fetch_resp}{messages}
        or die "not a fetch answer\n";
    for (@$m) {
        $bad++ unless $_->{offset} == $offset;
        $offset++;
    }
}
my $s = status();
for (1 .. 50) {
    last if $s->{freeing} == 0
        && $s->{freed_in_pool} >= 0.9 * $s->{messages};
    sleep 0.1;
    $s = status();
}
[ "wrong: $bad",
  "read from Kafka: $s->{messages}",
  "freed in the pool, at least 90% of them: "
      . ($s->{freed_in_pool} >= 0.9 * $s->{messages} ? 'yes'
                                                     : $s->{freed_in_pool}),
  "waiting to be freed: $s->{freeing}",
  # the window's blocks hold each message's bytes and its entry header
  "window memory beyond its messages' bytes, per message, at least 40: "
      . (($s->{window_memory} - $s->{window_bytes}) / 20000 >= 40
         ? 'yes' : "$s->{window_memory} - $s->{window_bytes}") ];
--- ws_response
wrong: 0
read from Kafka: 20000
freed in the pool, at least 90% of them: yes
waiting to be freed: 0
window memory beyond its messages' bytes, per message, at least 40: yes
