# build/pubsub-cli's extension commands against the gateway: produce
# from stdin, subscribe with a window and a filter (SIGINT unsubscribes
# cleanly), commit and committed, resuming a subscription by the group.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(free_port read_file spawn wait_child write_file);

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use Time::HiRes qw(sleep time);

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_write cli;
        pubsub_kafka_groups cli-*;
    }
EOF

our $KAFKA = <<'EOF';
topic: cli 2
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
    my $stdin = ref $args[0] eq 'SCALAR' ? ${ shift @args } : undef;
    die "$CLI is missing: build it with make\n" unless -x $CLI;
    my $err = servroot() . '/logs/cli-' . ++$RUNS . '.stderr';
    my $in;
    if (defined $stdin) {
        $in = servroot() . "/logs/cli-$RUNS.stdin";
        write_file($in, $stdin);
    }
    pipe my $r, my $w or die "pipe: $!\n";
    my $pid = spawn([$CLI, @args], stdout => $w, stderr => $err,
                    stdin => $in);
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

=== TEST 1: produce: records from stdin, one report a line in input order; then a fetch of them
--- ws_code
[ cli(\"one\ntwo\nthree\n", url(), 'produce', 'cli', '--partition', 1,
      '--key', 'k', '--header', 'h=v'),
  cli(url(), 'fetch', 'cli', 1, 0) ];
--- ws_response_like
\Aout \{"partition":1,"offset":0,"timestamp":\d+\}
out \{"partition":1,"offset":1,"timestamp":\d+\}
out \{"partition":1,"offset":2,"timestamp":\d+\}
exit 0
out \{"offset":0,"timestamp":NOW,"key":"k","value":"one"[^\n]*\}
out \{"offset":1,[^\n]*"value":"two"[^\n]*\}
out \{"offset":2,[^\n]*"value":"three"[^\n]*\}
exit 0\z



=== TEST 2: subscribe with a window and a header filter: pushed JSON lines, then SIGINT unsubscribes and ends 0
--- ws_code
cli(\"a\nb\nc\nd\n", url(), 'produce', 'cli', '--partition', 0,
    '--header', 'keep=yes');
cli(\"x\n", url(), 'produce', 'cli', '--partition', 0, '--header', 'keep=no');
my $h = cli_start(url(), 'subscribe', 'cli', '--partition', '0@0',
                  '--window', 2, '--header', 'keep=yes');
my @out = cli_lines($h, 5);
kill 'INT', $h->{pid};
push @out, cli_finish($h);
s/,"headers":\{[^}]*\}//, s/"timestamp":\w+,// for @out;
# whether the filtered record 4 was passed over before the end depends on
# when the last credit came
s/\{"0":[45]\}/{"0":4 or 5}/ for @out;
\@out;
--- ws_response
out {"positions":{"0":0}}
out {"partition":0,"offset":0,"key":"","value":"a"}
out {"partition":0,"offset":1,"key":"","value":"b"}
out {"partition":0,"offset":2,"key":"","value":"c"}
out {"partition":0,"offset":3,"key":"","value":"d"}
out {"positions":{"0":4 or 5},"ended":true}
exit 0



=== TEST 3: commit and committed; a subscription with the group starts where it committed
--- ws_code
cli(\"m0\nm1\nm2\nm3\n", url(), 'produce', 'cli', '--partition', 0);
my @out = (cli(url(), 'commit', 'cli-g', 'cli', '0=3'),
           cli(url(), 'committed', 'cli-g', 'cli'),
           cli(url(), 'subscribe', 'cli', '--all', '--group', 'cli-g',
               '--count', 1));
s/"timestamp":\w+,// for @out;
\@out;
--- ws_response
out {}
exit 0
out {"offsets":{"0":3,"1":-1}}
exit 0
out {"positions":{"0":3,"1":0}}
out {"partition":0,"offset":3,"key":"","value":"m3","headers":{}}
out {"positions":{"0":4,"1":0},"ended":true}
exit 0



=== TEST 4: refusals come back as server errors with their code: exit 1
--- ws_code
[ cli(url(), 'produce', 'other', '--value', 'x'),
  cli(url(), 'committed', 'someone-else', 'cli') ];
--- ws_response
out {"error":403,"message":"topic \"other\" not allowed"}
exit 1
err pubsub-cli: error 403: topic "other" not allowed
exit 1
err pubsub-cli: error 403: group "someone-else" not allowed



=== TEST 5: wss://: produce, subscribe and ping over TLS, the server's certificate verified against --cacert; SIGINT ends a subscription waiting on TLS
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;

    listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
    ssl_certificate $TEST_NGINX_KAFKA_SERVER_CERT;
    ssl_certificate_key $TEST_NGINX_KAFKA_SERVER_KEY;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_write cli;
        pubsub_kafka_groups cli-*;
    }
--- ws_code
my $wss = 'wss://localhost:' . tls_port() . '/kafka';
my @ca = ('--cacert', kafka_certs()->{ca});
my @out = (
    cli(\"over tls\n", @ca, $wss, 'produce', 'cli', '--partition', 0),
    cli(@ca, $wss, 'subscribe', 'cli', '--partition', '0@0', '--count', 1),
    cli(@ca, 'wss://127.0.0.1:' . tls_port() . '/kafka', 'ping', 'by-ip'),
);
# waiting on TLS for more, SIGINT unsubscribes
my $h = cli_start(@ca, $wss, 'subscribe', 'cli', '--partition', '0@1');
push @out, cli_lines($h, 1);
kill 'INT', $h->{pid};
push @out, cli_finish($h);
\@out;
--- ws_response_like
\Aout \{"partition":0,"offset":0,"timestamp":\d+\}
exit 0
out \{"positions":\{"0":0\}\}
out \{"partition":0,"offset":0,"timestamp":NOW,"key":"","value":"over tls","headers":\{\}\}
out \{"positions":\{"0":1\},"ended":true\}
exit 0
out \{"pong":"by-ip"\}
exit 0
out \{"positions":\{"0":1\}\}
out \{"positions":\{"0":1\},"ended":true\}
exit 0\z



=== TEST 6: wss://: a certificate of an unknown CA or of another name is refused (exit 3, said why); -k connects anyway
--- config
    listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
    ssl_certificate $TEST_NGINX_KAFKA_SERVER_CERT;
    ssl_certificate_key $TEST_NGINX_KAFKA_SERVER_KEY;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
--- ws_code
my $port = tls_port();
my $wss = "wss://localhost:$port/kafka";
my @out = (
    cli('--cacert', kafka_certs()->{other_ca}, $wss, 'ping'),
    # "127.1" is 127.0.0.1 to the resolver, but no name of the certificate
    cli('--cacert', kafka_certs()->{ca}, "wss://127.1:$port/kafka", 'ping'),
    cli('-k', $wss, 'ping', 'insecure'),
    cli('--cacert', '/nonexistent.pem', $wss, 'ping'),
    cli('--cacert', kafka_certs()->{ca}, "ws://localhost:$port/kafka",
        'ping'),
    # TLS to the plain listener
    cli('--cacert', kafka_certs()->{ca},
        'wss://localhost:' . server_port() . '/kafka', 'ping'),
);
my $plain = server_port();
[ map { s/:$port\b/:PORT/gr =~ s/:$plain\b/:PLAIN/gr } @out ];
--- ws_response
exit 3
err pubsub-cli: TLS handshake with localhost:PORT failed: the certificate is not trusted: unable to get local issuer certificate
exit 3
err pubsub-cli: TLS handshake with 127.1:PORT failed: the certificate is not trusted: hostname mismatch
out {"pong":"insecure"}
exit 0
exit 3
err pubsub-cli: cannot read the CA certificates "/nonexistent.pem": No such file or directory
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 400 Bad Request"
exit 3
err pubsub-cli: TLS handshake with localhost:PLAIN failed: wrong version number



=== TEST 7: locations behind auth_basic and auth_request: -u and -H give the handshake its credentials; without them nginx's refusal is the error
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /basic {
        auth_basic "pubsub";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /token {
        auth_request /auth;
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /auth {
        internal;
        if ($http_x_token != "t0k") {
            return 403;
        }
        return 204;
    }
--- user_files
>>> htpasswd
cli:{PLAIN}s3cret
--- ws_code
[ cli(url('/basic'), 'ping'),
  cli('-u', 'cli:s3cret', url('/basic'), 'ping', 'basic'),
  cli('--user', 'cli:wrong', url('/basic'), 'ping'),
  cli(url('/token'), 'ping'),
  cli('-H', 'X-Token: t0k', '-H', 'X-Other: 1', url('/token'), 'ping',
      'token'),
  cli('--handshake-header', 'X-Token t0k', url('/token'), 'ping'),
  cli('-H', "X-Token: t0k\r\nX-Evil: 1", url('/token'), 'ping'),
  cli('-u', 'nocolon', url('/basic'), 'ping') ];
--- ws_response
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 401 Unauthorized"
out {"pong":"basic"}
exit 0
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 401 Unauthorized"
exit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 403 Forbidden"
out {"pong":"token"}
exit 0
exit 2
err pubsub-cli: bad header "X-Token t0k": it must be "Name: value"
err try "pubsub-cli -h"
exit 2
err pubsub-cli: bad header "X-Token": control character in the value
err try "pubsub-cli -h"
exit 2
err pubsub-cli: -u needs USER:PASSWORD
err try "pubsub-cli -h"
--- error_log
password mismatch
--- no_error_log
[crit]



=== TEST 8: wss:// to a location behind ssl_verify_client: -E (and --cert-key) give the client certificate, whose name the location allows as a topic; a missing, unreadable or mismatched certificate or key is said and nothing is sent
--- http_config
    map $ssl_client_s_dn $pubsub_cn {
        ~(^|,)CN=(?<cn>[^,]+)  $cn;
        default                "";
    }
--- config
    listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
    ssl_certificate $TEST_NGINX_KAFKA_SERVER_CERT;
    ssl_certificate_key $TEST_NGINX_KAFKA_SERVER_KEY;
    ssl_client_certificate $TEST_NGINX_KAFKA_CA;
    ssl_verify_client on;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_read $pubsub_cn;
        pubsub_kafka_write $pubsub_cn;
    }
--- ws_code
my $c = kafka_certs();
my $dir = $c->{dir};
my $wss = 'wss://localhost:' . tls_port() . '/kafka';
my @ca = ('--cacert', $c->{ca});
my @pair = ('-E', $c->{client_cert}, '--cert-key', $c->{client_key});
# one file holding the certificate and its key, as curl's -E takes it
write_file("$dir/both.pem",
           read_file($c->{client_cert}) . read_file($c->{client_key}));
write_file("$dir/junk.pem", "not a certificate\n");
system('openssl', 'pkey', '-in', $c->{client_key}, '-aes256', '-passout',
       'pass:secret', '-out', "$dir/encrypted.key") == 0
    or die "openssl pkey failed\n";
my @out = (
    cli(@ca, $wss, 'ping'),
    cli(\"by certificate\n", @ca, @pair, $wss, 'produce', 'nginx-client',
        '--partition', 0),
    cli(@ca, '-E', "$dir/both.pem", $wss, 'fetch', 'nginx-client', 0, 0),
    cli(@ca, @pair, $wss, 'produce', 'other', '--value', 'x'),
    cli('-k', @pair, $wss, 'ping', 'insecure'),
    cli(@ca, '-E', $c->{client_cert}, '--cert-key', $c->{server_key}, $wss,
        'ping'),
    cli(@ca, '-E', $c->{client_cert}, $wss, 'ping'),
    cli(@ca, '-E', $c->{client_cert}, '--cert-key', "$dir/encrypted.key",
        $wss, 'ping'),
    cli(@ca, '-E', "$dir/junk.pem", $wss, 'ping'),
    cli(@ca, '-E', "$dir/none.pem", $wss, 'ping'),
    cli(@ca, '--cert-key', $c->{client_key}, $wss, 'ping'),
);
[ map { s/\Q$dir\E/DIR/gr } @out ];
--- ws_response_like
\Aexit 3
err pubsub-cli: server refused the WebSocket handshake: "HTTP/1.1 400 Bad Request"
out \{"partition":0,"offset":0,"timestamp":\d+\}
exit 0
out \{"offset":0,"timestamp":NOW,"key":"","value":"by certificate"\}
exit 0
out \{"error":403,"message":"topic \\"other\\" not allowed"\}
exit 1
err pubsub-cli: error 403: topic "other" not allowed
out \{"pong":"insecure"\}
exit 0
exit 3
err pubsub-cli: the client key "DIR/server.key" does not belong to the certificate "DIR/client.pem"
exit 3
err pubsub-cli: no private key in "DIR/client.pem": give it with --cert-key
exit 3
err pubsub-cli: the client key "DIR/encrypted.key" is encrypted: pubsub-cli takes a key without a passphrase
exit 3
err pubsub-cli: cannot load the client certificate "DIR/junk.pem": no start line
exit 3
err pubsub-cli: cannot read the client certificate "DIR/none.pem": No such file or directory
exit 2
err pubsub-cli: --cert-key needs --cert
err try "pubsub-cli -h"\z
