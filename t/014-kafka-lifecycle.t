# Lifecycle with Kafka work in flight: reload and graceful quit while
# fetches wait at the tail and look-ups run in the thread pool.

use lib 't/lib';
use Test::PubSub;
use Time::HiRes qw(time);

# fetches wait up to 10 s at the tail: anything answered sooner is the
# lifecycle at work
our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /long {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_fetch_max_wait 10s;
    }
EOF

our $DOWN = <<'EOF';
    location = /down {
        pubsub_kafka_pass kafka://127.0.0.1:1;
        pubsub_kafka_timeout 2s;
    }
EOF

our $KAFKA = <<'EOF';
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
EOF

my %DEFAULTS = (
    config       => $CONFIG,
    kafka        => $KAFKA,
    ws_path      => '/long',
    no_error_log => "[error]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $SEQ = 1000;

sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    my $r = $ws->recv_resp;
    die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
    return (pb_resp_render(pb_resp_encode($r)) =~ s/^seq=\d+ //r, $r);
}

# Child processes of $pid.
sub children {
    my ($pid) = @_;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pid;
    }
    return @kids;
}

# Waits until process $pid is gone (or a zombie); true if it went.
sub gone {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    for (;;) {
        my $stat = do { open my $fh, '<', "/proc/$pid/stat" or return 1;
                        local $/; <$fh> } // return 1;
        return 1 if $stat =~ /^\d+ \(.*\) Z /;
        return 0 if time > $deadline;
        select undef, undef, undef, 0.05;
    }
}

run_tests();

__DATA__

=== TEST 1: reload with a fetch waiting at the tail: close 1001, the old worker exits, a new connection fetches
# nginx_reload needs the master process, which the harness runs only
# without valgrind (master_process off under valgrind)
--- no_valgrind
--- ws_code
my ($list) = command($ws, cmd_kafka_list_offset =>
    topic => 'test-consumer', partition => 0, timestamp => -1);
$ws->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 });
my ($old) = children(nginx_pid());
nginx_reload();
my @closing = $ws->recv_lines(3, 3);
my $exited = gone($old, 5) ? 'old worker exited' : 'old worker still there';
my $new = ws_connect(path => '/long');
my ($f29) = command($new, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 29);
$new->send_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 });
my $produced = mock_cmd('produce test-consumer 0 after-reload');
[ $list, @closing, $exited, $f29, $produced, $new->recv_line ];
--- ws_response
list_offset offset=30
close 1001
eof
old worker exited
fetch 29="testmsg30"
ok 30
seq=2 fetch 30="after-reload"



=== TEST 2: graceful quit with fetches waiting and a look-up running: close 1001 and a prompt exit
# graceful shutdown needs the master process, which the harness runs only
# without valgrind (a single-process nginx exits on SIGQUIT at once; see
# TEST 3 for that path)
--- no_valgrind
--- config eval
$::CONFIG . $::DOWN
--- ws_code
my $c2 = ws_connect(path => '/long');
my $c3 = ws_connect(path => '/down');
command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 29);
for my $c ($ws, $c2) {
    $c->send_req(sequence => 1, cmd_kafka_fetch =>
        { topic => 'test-consumer', partition => 0, offset => 30 });
}
# still in the thread pool (2 s against a refused port) at the quit
$c3->send_req(sequence => 1, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
my ($worker) = children(nginx_pid());
kill 'QUIT', nginx_pid();
my @out = map { join ' ', $_->recv_lines(3, 3) } $ws, $c2, $c3;
push @out, gone($worker, 8) ? 'worker exited' : 'worker still there';
\@out;
--- ws_response
close 1001 eof
close 1001 eof
close 1001 eof
worker exited
--- no_error_log
[crit]



=== TEST 3: quit while a fetch waits, another is held on a look-up and a list offset runs
# master mode: graceful shutdown (close 1001 first); valgrind mode
# (master_process off): nginx exits at once, the module's exit handler
# finds all of it still there
--- config eval
$::CONFIG . $::DOWN
--- ws_code
my $c2 = ws_connect(path => '/long');
my $c3 = ws_connect(path => '/down');
command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 29);
$ws->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 30 });
# a partition nobody read yet: this fetch waits for its look-up
$c2->send_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'other', partition => 0, offset => 0 });
$c3->send_req(sequence => 1, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
kill 'QUIT', nginx_pid();
[ map { join ' ', $_->recv_lines(3, use_valgrind() ? 30 : 8) }
      $ws, $c2, $c3 ];
--- ws_response eval
join "\n", ($ENV{TEST_NGINX_USE_VALGRIND} ? 'eof' : 'close 1001 eof') x 3
--- no_error_log
[crit]
