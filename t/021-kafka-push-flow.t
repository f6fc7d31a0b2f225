# Server push under pressure: a subscriber that does not read is paused by
# its output queue and resumed with no gap; a position that left Kafka is
# jumped over, and said; subscriptions end with their positions when the
# server closes, and leave nothing behind when the client goes.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Push qw(subscribe push_messages render_resp);
use JSON::PP ();
use Time::HiRes qw(time sleep);

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /small {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_output_queue_size 4k;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

my %DEFAULTS = (
    config       => $CONFIG,
    ws_path      => '/kafka',
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

sub wait_status {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * (use_valgrind() ? 3 : 1);
    my $s;
    for (;;) {
        $s = status();
        return $s if $cond->($s) || time > $deadline;
        sleep 0.05;
    }
}

run_tests();

__DATA__

=== TEST 1: a subscriber that does not read is paused, not closed; it resumes with no gap
--- kafka
topic: big 1
produce_batch big 0 400 m size=200
--- ws_path: /small
--- ws_code
my @out = subscribe($ws, 7, topic => 'big',
                    partitions => [{ partition => 0, offset => -2 }]);
# 80 kB for a 4 kB queue and whatever the socket buffers take: it waits
sleep 1;
my $m = push_messages($ws, 7, 400);
push @out, scalar(@$m) . ' messages', $m->[0] =~ s/\.+$//r,
    $m->[-1] =~ s/\.+$//r;
\@out;
--- ws_response
subscribe 0@0
400 messages
p0 0=m1
p0 399=m400
--- no_error_log
[error]
client does not read



=== TEST 2: retention: the next offset of a paused subscription left Kafka; it goes on from the first, and says so
--- timeout: 20
--- kafka
topic: old 1
produce_n old 0 3 first
--- ws_code
my @out = subscribe($ws, 7, topic => 'old',
                    partitions => [{ partition => 0, offset => -2 }],
                    window => 1);
push @out, @{ push_messages($ws, 7, 1) };
# over the mock's 5 MiB a partition: the oldest messages go
push @out, mock_cmd('produce_batch old 0 7000 x size=1000') =~ s/\d+ \d+/N M/r;
my $wm = mock_cmd('wm old 0');
my ($low, $high) = $wm =~ /^ok (\d+) (\d+)/;
push @out, $low > 1 ? 'low moved' : "low $low";
# the tail reader reads on to the end meanwhile, and its 4m window lets go
# of offset 1 then: until it has, the subscription could be served the
# window's messages in order (they were in Kafka when read), as many as
# the window held, before it needs Kafka
wait_status(sub {
    grep { $_->{next} >= $high } @{ $_[0]{partition_list}[0]{reading} };
}, 10);
# what the worker's window still held of the old messages may come first;
# then the jump, then the first offset
my (@held, $jump, $next);
for my $i (1 .. 4) {
    $ws->send_req(sequence => 8, cmd_kafka_credit => { subscription => 7,
                                                       messages => 1 });
    for my $line (@{ push_messages($ws, 7, 1, timeout => 10) }) {
        if ($line =~ /^subscribe 0\@(\d+)$/) { $jump = $1 }
        elsif (defined $jump) { $next = $line }
        else { push @held, $line }
    }
    last if defined $next;
}
# offsets 1 and 2 are first2 and first3, then x1 at 3 and so on
my $in_order = !grep {
    my $v = $_ < 3 ? 'first' . ($_ + 1) : 'x' . ($_ - 2);
    $held[$_ - 1] !~ /^p0 $_=$v\.*$/;
} 1 .. @held;
push @out, $in_order ? 'held ones in order' : "held: @held",
           defined $jump && $jump >= $low ? 'jump to the first offset'
                                          : 'jump: ' . ($jump // 'none')
                                            . ", low $low",
           defined $next && $next =~ /^p0 $jump=x/
               ? 'next message is the first' : 'next: ' . ($next // 'none');
\@out;
--- ws_response
subscribe 0@0
p0 0=first1
ok N M
low moved
held ones in order
jump to the first offset
next message is the first



=== TEST 3: the client goes away: its subscriptions leave the partitions, readers stop when unused
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_read_timeout 300ms;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- kafka
topic: three 3
produce_n three 0 3 a
--- ws_code
my @out = subscribe($ws, 7, topic => 'three', all_partitions => 1,
                    start => -2);
push @out, subscribe($ws, 8, topic => 'three',
                     partitions => [{ partition => 1, offset => -1 }]);
push @out, scalar(@{ push_messages($ws, 7, 3) }) . ' messages';
my $s = status();
push @out, 'subscriptions: ' . join ' ', map { $_->{subscriptions} }
    @{ $s->{partition_list} };
$ws->close;
$s = wait_status(sub { $_[0]{partitions} == 0 }, 5);
push @out, "after: partitions $s->{partitions}, readers $s->{readers}, "
           . "waiters $s->{waiters}";
\@out;
--- ws_response
subscribe 0@0 1@0 2@0
subscribe 1@0
3 messages
subscriptions: 1 2 1
after: partitions 0, readers 0, waiters 0



=== TEST 4: nginx reloads: every subscription gets its positions (ended), then close 1001
--- no_valgrind
--- kafka
topic: test-consumer 2
produce_n test-consumer 0 5 a
produce_n test-consumer 1 5 b
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => -2 }]);
push @out, subscribe($ws, 8, topic => 'test-consumer', all_partitions => 1,
                     start => -1);
push @out, scalar(@{ push_messages($ws, 7, 5) }) . ' messages';
nginx_reload();
push @out, sort($ws->recv_lines(2, 3)), $ws->recv_lines(2, 3);
\@out;
--- ws_response
subscribe 0@0
subscribe 0@5 1@5
5 messages
seq=7 subscribe ended 0@5
seq=8 subscribe ended 0@5 1@5
close 1001
eof



=== TEST 5: nginx quits: the same, positions then 1001
--- no_valgrind
--- kafka
topic: test-consumer 1
produce_n test-consumer 0 5 a
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => 2 }]);
push @out, scalar(@{ push_messages($ws, 7, 3) }) . ' messages';
kill 'QUIT', nginx_pid();
push @out, $ws->recv_lines(3, 3);
\@out;
--- ws_response
subscribe 0@2
3 messages
seq=7 subscribe ended 0@5
close 1001
eof



=== TEST 6: a client that does not read while messages come one by one gets them in a few answers once it reads, not one frame each
--- config
    pubsub_kafka_property fetch.wait.max.ms 5;

    listen 127.0.0.1:$TEST_NGINX_TLS_PORT sndbuf=4k;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
--- kafka
topic: one 1
--- ws_code
use Socket qw(SOL_SOCKET SO_RCVBUF);
my $c = ws_connect(path => '/kafka', port => tls_port());
setsockopt($c->sock, SOL_SOCKET, SO_RCVBUF, 4096);
my @out = subscribe($c, 1, topic => 'one', partitions => [{ partition => 0 }]);
# the client reads nothing while 200 messages of 1000 bytes come, one by one
my $value = 'v' x 1000;
mock_cmd("produce one 0 $value") for 1 .. 200;
sleep 0.5;
my ($frames, $n, $bad) = (0, 0, 0);
while ($n < 200) {
    my $f = $c->recv_frame(10);
    die "no more frames after $n messages\n" unless ref $f;
    my $r = pb_resp_decode($f->{payload});
    my $m = $r->{kafka_fetch_resp}{messages} or die "not a push\n";
    $frames++;
    for (@$m) {
        $bad++ unless $_->{offset} == $n && $_->{value} eq $value;
        $n++;
    }
}
push @out, "200 messages in order: " . ($bad ? "no, $bad wrong" : 'yes'),
           'frames: ' . ($frames < 50 ? 'fewer than 50' : $frames);
\@out;
--- ws_response
subscribe 0@0
200 messages in order: yes
frames: fewer than 50



=== TEST 7: an answer queued for a client that does not read keeps the window's bytes it shares: the window moves on, the client reads them intact
--- config
    pubsub_kafka_property fetch.wait.max.ms 5;
    pubsub_kafka_buffer_size 16k;

    listen 127.0.0.1:$TEST_NGINX_TLS_PORT sndbuf=4k;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
--- kafka
topic: pin 1
produce_batch pin 0 300 m size=1000
--- ws_code
use Socket qw(SOL_SOCKET SO_RCVBUF);
# A takes its first answer (the window's messages, shared with it) into a
# queue its socket does not empty
my $c = ws_connect(path => '/kafka', port => tls_port());
setsockopt($c->sock, SOL_SOCKET, SO_RCVBUF, 4096);
my @out = subscribe($c, 1, topic => 'pin',
                    partitions => [{ partition => 0, offset => -2 }]);
sleep 0.3;
# B reads the whole partition: the window of 16k moves on 18 times
push @out, subscribe($ws, 2, topic => 'pin',
                     partitions => [{ partition => 0, offset => -2 }]);
my $b = push_messages($ws, 2, 300);
push @out, 'B: ' . scalar(@$b) . ' messages';
# A reads: the bytes of its queued answer were not freed nor reused
my ($n, $bad) = (0, 0);
while ($n < 300) {
    my $f = $c->recv_frame(10);
    die "no more frames after $n messages\n" unless ref $f;
    my $r = pb_resp_decode($f->{payload});
    my $m = $r->{kafka_fetch_resp}{messages} or die "not a push\n";
    for (@$m) {
        my $v = $_->{value};
        $bad++ unless $_->{offset} == $n && length($v) == 1000
                      && $v =~ /^m(\d+)\.*$/ && $1 == $n + 1;
        $n++;
    }
}
push @out, "A: 300 messages intact and in order: "
           . ($bad ? "no, $bad wrong" : 'yes');
\@out;
--- ws_response
subscribe 0@0
subscribe 0@0
B: 300 messages
A: 300 messages intact and in order: yes
