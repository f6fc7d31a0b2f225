# The log variables: a WebSocket's totals in its access_log line, written
# when the connection ends; "-" for requests that did not upgrade.

use lib 't/lib';
use Test::PubSub;
use Time::HiRes qw(time sleep);

our $LOG = <<'EOF';
    log_format pubsub '$request_uri $status sent=$pubsub_messages_sent '
                      'received=$pubsub_messages_received '
                      'bytes_sent=$pubsub_bytes_sent '
                      'bytes_received=$pubsub_bytes_received '
                      'close="$pubsub_close_code" '
                      'commands=$pubsub_commands errors=$pubsub_errors';
    access_log logs/pubsub.log pubsub;
EOF

my %DEFAULTS = (
    no_error_log => "[error]\n",
    http_config  => $LOG,
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

# the access log's lines once it has $n of them
sub log_lines {
    my ($n) = @_;
    my $file = servroot() . '/logs/pubsub.log';
    my $deadline = time + 5;
    my @lines;
    for (;;) {
        open my $fh, '<', $file;
        @lines = $fh ? <$fh> : ();
        chomp @lines;
        return @lines if @lines >= $n || time > $deadline;
        sleep 0.05;
    }
}

run_tests();

__DATA__

=== TEST 1: a WebSocket's line: messages, bytes, close code and by whom, commands and errors
--- config
    location = /ws {
        pubsub;
    }
    location = /idle {
        pubsub_idle_timeout 200ms;
        pubsub;
    }
    location = /plain {
        return 200 "plain\n";
    }
--- ws_path: /ws
--- ws_code
# the data messages' payloads in; every frame queued out, close aside
my @data = (pb_req(sequence => 1, cmd_ping => { state => 'a' }),
            pb_req(sequence => 2, cmd_ping => { state => 'b' }),
            "\xff\xff");
my $in = 0;
$in += length for @data;
$ws->send(join '', (map { ws_binary($_) } @data), ws_ping('x'));
my ($out, @r) = (0);
for (1 .. 4) {
    my $f = $ws->recv_frame;
    $out += 2 + length $f->{payload};
    push @r, ws_render($f);
}
$ws->send(ws_close(1000));
push @r, $ws->recv_line;
$ws->close;

my $idle = ws_connect(path => '/idle');
push @r, $idle->recv_line;
$idle->close;

my $drop = ws_connect(path => '/ws');
$drop->close;

http_get('/plain');
my @lines = map {
    s/bytes_sent=$out /bytes_sent=(as sent) /r
        =~ s/bytes_received=$in /bytes_received=(as received) /r
} log_lines(4);
[ @r, sort @lines ];
--- ws_response
seq=1 pong state="a"
seq=2 pong state="b"
seq=0 error code=0 message="malformed request: PubSubReq is cut short"
pong "x"
close 1000
close 1000
/idle 101 sent=0 received=0 bytes_sent=0 bytes_received=0 close="1000 server" commands=0 errors=0
/plain 200 sent=- received=- bytes_sent=- bytes_received=- close="-" commands=- errors=-
/ws 101 sent=0 received=0 bytes_sent=0 bytes_received=0 close="1006" commands=0 errors=0
/ws 101 sent=4 received=3 bytes_sent=(as sent) bytes_received=(as received) close="1000 client" commands=2 errors=1



=== TEST 2: a request refused before the upgrade: no WebSocket, "-"
--- config
    location = /ws {
        deny all;
        pubsub;
    }
--- request
GET /ws
--- error_code: 403
--- error_log
access forbidden by rule
--- no_error_log
[crit]
