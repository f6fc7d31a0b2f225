# SASL to Kafka: pubsub_kafka_sasl_mechanism PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512 with pubsub_kafka_sasl_username/_password, over plaintext
# (sasl_plaintext) and over TLS (sasl_ssl); GSSAPI as far as it can go
# without a KDC.
#
# The mock cluster has no SASL, so each block puts the harness's SASL front
# (tools/kafka_front.py, "front: sasl_plaintext|sasl_ssl ..." in --- kafka)
# before it: every broker connection authenticates there (user alice,
# password alice-secret) before it reaches the mock.  Each block has a
# location with the right password and one with a wrong one; they are two
# Kafka clients, authenticating separately.

use lib 't/lib';
use Test::PubSub;
use Time::HiRes qw(time);

# /good and /bad for one mechanism, over TLS (verified with the test CA)
# when $tls.  /bad fails after its 1 s look-up bound; /good has 5 s, which
# only matters when nginx runs under valgrind, where setting up SASL over
# TLS can take a second.
sub sasl_config {
    my ($mechanism, $tls) = @_;
    my $common = <<"EOF";
        pubsub_kafka_pass kafka://\$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_sasl_mechanism $mechanism;
        pubsub_kafka_sasl_username alice;
EOF
    $common .= <<'EOF' if $tls;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
EOF
    return <<"EOF";
    location = /good {
$common        pubsub_kafka_sasl_password alice-secret;
        pubsub_kafka_timeout 5s;
    }
    location = /bad {
$common        pubsub_kafka_sasl_password not-alice-secret;
        pubsub_kafka_timeout 1s;
    }
EOF
}

our $SEQ = 100;

# One command; its answer rendered without "seq=N ".
sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    my $line = $ws->recv_line;
    $line =~ s/^seq=$seq // or die "want seq=$seq, got: $line\n";
    return $line;
}

# List offset -1 and fetch at 0 of test-consumer p0 (APISIX's TEST 7).
sub list_and_fetch {
    my ($ws) = @_;
    my $list = command($ws, cmd_kafka_list_offset =>
        topic => 'test-consumer', partition => 0, timestamp => -1);
    my $fetch = command($ws, cmd_kafka_fetch =>
        topic => 'test-consumer', partition => 0, offset => 0);
    $fetch =~ s/^(fetch 0="testmsg1").*/$1/;
    return "$list\n$fetch";
}

# A list offset on $path that must fail: sends it and returns a sub that
# reads the answer: "TIME_OK" when it came within $limit seconds (the
# timeout and a margin), then the error text.
sub start_failing_list_offset {
    my ($path, $limit) = @_;
    $limit *= 3 if use_valgrind();
    my $ws = ws_connect(path => $path);
    my $seq = ++$SEQ;
    my $t0 = time;
    $ws->send_req(sequence => $seq, cmd_kafka_list_offset =>
        { topic => 'test-consumer', partition => 0, timestamp => -1 });
    return sub {
        my $line = $ws->recv_line;
        my $took = time - $t0;
        $line =~ s/^seq=$seq // or die "want seq=$seq, got: $line\n";
        return ($took <= $limit ? 'TIME_OK' : sprintf('took %.1f s', $took))
            . "\n$line";
    };
}

sub failing_list_offset { start_failing_list_offset(@_)->() }

# The right password works on /good (and the front says so), the wrong
# one fails on /bad (both at once: the failure takes the timeout).
sub good_and_bad {
    my ($ws, $mechanism) = @_;
    my $bad = start_failing_list_offset('/bad', 3);
    my @out = (list_and_fetch($ws));
    push @out, kafka_front_log() =~ /auth ok: \Q$mechanism\E user alice$/m
        ? "front: auth ok $mechanism" : 'front: no auth ok';
    push @out, $bad->();
    push @out, wait_kafka_front_log(
        qr/auth failed: \Q$mechanism\E user alice: invalid/, 1)
        ? "front: auth failed $mechanism" : 'front: no auth failed';
    return \@out;
}

our $RESULT = <<'EOF';
\Alist_offset offset=30
fetch 0="testmsg1"
front: auth ok MECH
TIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"
front: auth failed MECH\z
EOF

sub result {
    my ($mech) = @_;
    (my $r = $RESULT) =~ s/MECH/$mech/g;
    chomp $r;
    return qr/$r/;
}

# (after $RESULT is set: blocks() runs the eval sections)
my %DEFAULTS = (
    ws_path => '/good',
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

run_tests();

__DATA__

=== TEST 1: sasl_plaintext PLAIN: right password works (APISIX kafka.t TEST 7), a wrong one fails
--- kafka
front: sasl_plaintext PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('PLAIN', 0)
--- ws_code
good_and_bad($ws, 'PLAIN');
--- ws_response_like eval: result('PLAIN')
--- error_log
SASL authentication error: Authentication failed: Invalid username or password
--- no_error_log
[emerg]



=== TEST 2: sasl_plaintext SCRAM-SHA-256: right password works, a wrong one fails
--- kafka
front: sasl_plaintext PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('SCRAM-SHA-256', 0)
--- ws_code
good_and_bad($ws, 'SCRAM-SHA-256');
--- ws_response_like eval: result('SCRAM-SHA-256')
--- error_log
SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256



=== TEST 3: sasl_plaintext SCRAM-SHA-512: right password works, a wrong one fails
--- kafka
front: sasl_plaintext PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('SCRAM-SHA-512', 0)
--- ws_code
good_and_bad($ws, 'SCRAM-SHA-512');
--- ws_response_like eval: result('SCRAM-SHA-512')
--- error_log
SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512



=== TEST 4: sasl_ssl PLAIN: right password works, a wrong one fails
--- kafka
front: sasl_ssl PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('PLAIN', 1)
--- ws_code
good_and_bad($ws, 'PLAIN');
--- ws_response_like eval: result('PLAIN')
--- error_log
SASL authentication error: Authentication failed: Invalid username or password



=== TEST 5: sasl_ssl SCRAM-SHA-256: right password works, a wrong one fails
--- kafka
front: sasl_ssl PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('SCRAM-SHA-256', 1)
--- ws_code
good_and_bad($ws, 'SCRAM-SHA-256');
--- ws_response_like eval: result('SCRAM-SHA-256')
--- error_log
SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256



=== TEST 6: sasl_ssl SCRAM-SHA-512: right password works, a wrong one fails
--- kafka
front: sasl_ssl PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('SCRAM-SHA-512', 1)
--- ws_code
good_and_bad($ws, 'SCRAM-SHA-512');
--- ws_response_like eval: result('SCRAM-SHA-512')
--- error_log
SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512



=== TEST 7: a mechanism the broker does not offer: ErrorResp, "Unsupported SASL mechanism"
--- kafka
front: sasl_plaintext PLAIN user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval: sasl_config('SCRAM-SHA-256', 0)
--- ws_code
[ failing_list_offset('/bad', 3),
  wait_kafka_front_log('auth failed: mechanism SCRAM-SHA-256 not enabled', 1)
      ? 'front: mechanism refused' : 'front: ?' ]
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"
front: mechanism refused\z
--- error_log
Unsupported SASL mechanism



=== TEST 8: no SASL against a broker that requires it: ErrorResp, librdkafka's hint
--- kafka
front: sasl_plaintext PLAIN user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config
    location = /good {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 1s;
    }
--- ws_code
failing_list_offset('/good', 3);
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"\z
--- error_log
might require SASL authentication



=== TEST 9: GSSAPI: no KDC here, but the settings reach librdkafka: kinit with the keytab and principal, the service name, and the mechanism offered by the broker is tried
The front offers GSSAPI (it cannot complete it).  librdkafka runs its kinit
command (which fails: no kinit or no KDC) and starts a Cyrus SASL GSSAPI
client with the service name; what stops it depends on the host (no
GSSAPI plugin for libsasl2, or no Kerberos credentials), so only the
attempt is checked.
--- kafka
front: sasl_plaintext GSSAPI,PLAIN user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config
    location = /good {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 1s;
        pubsub_kafka_sasl_mechanism GSSAPI;
        pubsub_kafka_sasl_kerberos_service_name kafka-svc;
        pubsub_kafka_sasl_kerberos_principal nginx-gw@EXAMPLE.COM;
        pubsub_kafka_sasl_kerberos_keytab /etc/nginx/nginx-gw.keytab;
        pubsub_kafka_property debug security;
    }
--- ws_code
[ failing_list_offset('/good', 3),
  wait_error_log('mechanisms GSSAPI, provider Cyrus', 2)
      ? 'GSSAPI tried' : 'GSSAPI not tried' ]
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"
GSSAPI tried\z
--- error_log eval
[ qr/Kerberos ticket refresh (?:failed|command returned ECHILD): kinit -R -t "\/etc\/nginx\/nginx-gw\.keytab" -k nginx-gw\@EXAMPLE\.COM /,
  'Broker supported SASL mechanisms: GSSAPI,PLAIN',
  'Initializing SASL client: service name kafka-svc, hostname 127.0.0.2, mechanisms GSSAPI, provider Cyrus' ]



=== TEST 10: OAUTHBEARER with librdkafka's unsecured JWT (pubsub_kafka_property): the token's principal authenticates, an unknown one fails
The directive only names the mechanism; where the token comes from is
librdkafka's configuration (here enable.sasl.oauthbearer.unsecure.jwt, in
production sasl.oauthbearer.method oidc and its properties).
--- kafka
front: sasl_plaintext OAUTHBEARER,PLAIN user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config
    pubsub_kafka_timeout 1s;
    pubsub_kafka_sasl_mechanism OAUTHBEARER;

    location = /good {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 5s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property enable.sasl.oauthbearer.unsecure.jwt true;
        pubsub_kafka_property sasl.oauthbearer.config principal=alice;
    }
    location = /bad {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property enable.sasl.oauthbearer.unsecure.jwt true;
        pubsub_kafka_property sasl.oauthbearer.config principal=mallory;
    }
--- ws_code
my $bad = start_failing_list_offset('/bad', 3);
[ list_and_fetch($ws),
  kafka_front_log() =~ /auth ok: OAUTHBEARER user alice$/m
      ? 'front: auth ok alice' : 'front: no auth ok',
  $bad->(),
  wait_kafka_front_log('auth failed: OAUTHBEARER user mallory', 1)
      ? 'front: auth failed mallory' : 'front: no auth failed' ]
--- ws_response_like
\Alist_offset offset=30
fetch 0="testmsg1"
front: auth ok alice
TIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"
front: auth failed mallory\z
--- error_log
SASL authentication error: Authentication failed: unknown user
