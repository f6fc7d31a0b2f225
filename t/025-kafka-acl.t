# Topic access control: which topics, partitions and groups a connection
# may read and write, from nginx variables evaluated at the upgrade,
# checked on every command before Kafka is asked; connections that
# expire close with 1008 after their subscriptions' positions.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Push qw(subscribe push_messages sub_answer render_resp);
use JSON::PP ();
use Time::HiRes qw(time sleep);

our $HTTP = <<'EOF';
    map $http_x_role $role_topics {
        default  "";
        reader   "public.*,news";
        admin    "admin.*  orders";
        trick    "~.*";
    }
EOF

our $CONFIG = <<'EOF';
    location = /acl {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_read public.* ~^metrics\.[a-z]+$ exact
                          user.$http_x_user.* $role_topics;
        pubsub_kafka_write user.$http_x_user.*;
        pubsub_kafka_groups g.$http_x_user;
    }
    location = /role {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_read $role_topics;
    }
    location = /default {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /internal {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_read * __consumer_offsets __*;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

my %DEFAULTS = (
    http_config  => $HTTP,
    config       => $CONFIG,
    kafka        => "topic: t 1\n",
    ws_path      => '/default',
    no_error_log => "[error]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $SEQ = 0;

sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    return render_resp(sub_answer($ws, $seq));
}

sub list {
    my ($ws, $topic) = @_;
    my $r = command($ws, cmd_kafka_list_offset => topic => $topic,
                    partition => 0, timestamp => -1);
    return "$topic: " . ($r =~ /^list_offset/ ? 'allowed' : $r);
}

sub connect_as {
    my ($path, %h) = @_;
    return ws_connect(path => $path,
                      headers => [ map { "$_: $h{$_}" } sort keys %h ]);
}

sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body})->{clients}[0];
}

run_tests();

__DATA__

=== TEST 1: every pattern kind, a variable in a pattern, several patterns in a map's value
--- ws_code
my $c = connect_as('/acl', 'X-User' => 'bob', 'X-Role' => 'reader');
[ map { list($c, $_) } qw(public.x metrics.cpu exact user.bob.inbox news
                           metrics.CPU1 exacty user.alice.inbox admin.x
                           orders) ];
--- ws_response
public.x: allowed
metrics.cpu: allowed
exact: allowed
user.bob.inbox: allowed
news: allowed
metrics.CPU1: error code=403 message="topic \"metrics.CPU1\" not allowed"
exacty: error code=403 message="topic \"exacty\" not allowed"
user.alice.inbox: error code=403 message="topic \"user.alice.inbox\" not allowed"
admin.x: error code=403 message="topic \"admin.x\" not allowed"
orders: error code=403 message="topic \"orders\" not allowed"
--- error_log
topic "orders" not allowed for reading



=== TEST 2: a 403 on each kind of command; what is allowed works
--- ws_code
my $c = connect_as('/acl', 'X-User' => 'bob');
my $sub = subscribe($c, 900, topic => 'user.bob.in',
                    partitions => [{ partition => 0, offset => -1 }]);
[ command($c, cmd_kafka_fetch => topic => 'x', partition => 0),
  command($c, cmd_kafka_list_offset => topic => 'x', partition => 0),
  command($c, cmd_kafka_subscribe => topic => 'x', all_partitions => 1),
  command($c, cmd_kafka_subscribe => topic => 'user.bob.in',
          all_partitions => 1, group => 'g.alice'),
  command($c, cmd_kafka_produce => topic => 'public.x', value => 'v'),
  command($c, cmd_kafka_commit => group => 'g.alice',
          topic => 'user.bob.in', offsets => [{ partition => 0 }]),
  command($c, cmd_kafka_committed => group => 'g.alice',
          topic => 'user.bob.in'),
  command($c, cmd_kafka_committed => group => 'g.bob', topic => 'x'),
  $sub,
  command($c, cmd_kafka_produce => topic => 'user.bob.in', partition => 0,
          value => 'mine') =~ s/ ts=\d+//r,
  command($c, cmd_kafka_committed => group => 'g.bob',
          topic => 'user.bob.in'),
  push_messages($c, 900, 1)->[0] ];
--- ws_response
error code=403 message="topic \"x\" not allowed"
error code=403 message="topic \"x\" not allowed"
error code=403 message="topic \"x\" not allowed"
error code=403 message="group \"g.alice\" not allowed"
error code=403 message="topic \"public.x\" not allowed"
error code=403 message="group \"g.alice\" not allowed"
error code=403 message="group \"g.alice\" not allowed"
error code=403 message="topic \"x\" not allowed"
subscribe 0@0
produce p0@0
committed 0@-1 1@-1 2@-1 3@-1
p0 0=mine



=== TEST 3: a value never makes a regex; an empty value allows nothing
--- ws_code
my $trick = connect_as('/role', 'X-Role' => 'trick');
my $none = connect_as('/role');
[ list($trick, 'anything'), list($none, 'anything'), list($none, 't') ];
--- ws_response
anything: error code=403 message="topic \"anything\" not allowed"
anything: error code=403 message="topic \"anything\" not allowed"
t: error code=403 message="topic \"t\" not allowed"



=== TEST 4: defaults: every topic but Kafka's internal ones is read; no produce, no group; internal ones only by a literal name
--- ws_code
my $d = connect_as('/default');
my $i = connect_as('/internal');
[ list($d, 't'), list($d, '__consumer_offsets'),
  command($d, cmd_kafka_produce => topic => 't', value => 'v'),
  command($d, cmd_kafka_committed => group => 'g', topic => 't'),
  list($i, '__consumer_offsets'), list($i, '__transaction_state') ];
--- ws_response
t: allowed
__consumer_offsets: error code=403 message="topic \"__consumer_offsets\" not allowed"
error code=403 message="topic \"t\" not allowed"
error code=403 message="group \"g\" not allowed"
__consumer_offsets: allowed
__transaction_state: error code=403 message="topic \"__transaction_state\" not allowed"



=== TEST 5: a denial does not tell whether the topic exists, and asks Kafka nothing
--- kafka
topic: secret 1
--- ws_code
my $c = connect_as('/role');
my @out = (list($c, 'secret'), list($c, 'no-such-topic'));
my $s = status();
push @out, "look-ups $s->{lookups}, partitions $s->{partitions}, "
           . "fetches $s->{fetches}";
\@out;
--- ws_response
secret: error code=403 message="topic \"secret\" not allowed"
no-such-topic: error code=403 message="topic \"no-such-topic\" not allowed"
look-ups 0, partitions 0, fetches 0



=== TEST 6: auth_request with auth_request_set, limit_conn and topic rights in one location, as an operator writes it
--- http_config
    limit_conn_zone $binary_remote_addr zone=ws:1m;
--- config
    location = /kafka {
        auth_request /auth;
        auth_request_set $topics $upstream_http_x_topics;
        auth_request_set $exp $upstream_http_x_expires;
        limit_conn ws 10;

        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_read $topics;
        pubsub_expires $exp;
    }
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/authz;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Token $http_x_token;
    }
    location = /default {
        pubsub;
    }
    location = /authz {
        if ($http_x_token != "good") {
            return 401;
        }
        add_header X-Topics "user.bob.* t";
        add_header X-Expires 4102444800;
        return 200;
    }
--- ws_code
my $c = connect_as('/kafka', 'X-Token' => 'good');
my @out = (list($c, 't'), list($c, 'user.bob.x'), list($c, 'other'));
eval { connect_as('/kafka', 'X-Token' => 'bad') };
push @out, $@ =~ /got 401/ ? 'bad token: 401' : "bad token: $@";
\@out;
--- ws_response
t: allowed
user.bob.x: allowed
other: error code=403 message="topic \"other\" not allowed"
bad token: 401
--- no_error_log
[alert]



=== TEST 7: pubsub_expires from a variable: positions, then close 1008, when the time comes; an expired or bad value is refused
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_expires $http_x_expires;
    }
    location = /default {
        pubsub;
    }
--- kafka
topic: t 1
produce_n t 0 3 m
--- ws_code
my $c = connect_as('/kafka', 'X-Expires' => int(time) + 2);
my @out = subscribe($c, 5, topic => 't',
                    partitions => [{ partition => 0, offset => -2 }]);
push @out, scalar(@{ push_messages($c, 5, 3) }) . ' messages';
push @out, $c->recv_lines(3, 4);
for my $v (int(time) - 10, 'soon') {
    eval { connect_as('/kafka', 'X-Expires' => $v) };
    push @out, $@ =~ /got 403/ ? "$v: 403" =~ s/^\d+/past/r : "$v: $@";
}
\@out;
--- ws_response
subscribe 0@0
3 messages
seq=5 subscribe ended 0@3
close 1008
eof
past: 403
soon: 403
--- error_log
connection expired (pubsub_expires), closing
credential expired
is not a Unix time



=== TEST 8: pubsub_expires as a time: the connection's lifetime; its subscriptions get their positions first
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_expires 1s;
    }
--- ws_path: /kafka
--- ws_code
# timed from before a connection of its own is opened: the block's $ws
# was opened before this code ran, by how long before depends on the load
my $start = time;
my $c = ws_connect(path => '/kafka');
my @out = (subscribe($c, 7, topic => 't',
                     partitions => [{ partition => 0, offset => -2 }]));
push @out, $c->recv_lines(3, 5);
my $took = time - $start;
push @out, ($took >= 0.9) ? 'not before its time' : "after $took s";
\@out;
--- ws_response
subscribe 0@0
seq=7 subscribe ended 0@0
close 1008
eof
not before its time



=== TEST 9: rights at several levels: a list or pubsub_kafka_produce at one level replaces what the level above set
--- http_config
    pubsub_kafka_produce on;
--- config
    location = /http {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location /lv {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_write lv.*;

        location = /lv/inherit {
            pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        }
        location = /lv/own {
            pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
            pubsub_kafka_write own.*;
        }
        location = /lv/off {
            pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
            pubsub_kafka_produce off;
        }
        location = /lv/on {
            pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
            pubsub_kafka_produce on;
        }
    }
--- kafka
topic: lv.a 1
topic: own.a 1
topic: t 1
--- ws_path: /http
--- ws_code
my @out;
for my $path (qw(/http /lv/inherit /lv/own /lv/off /lv/on)) {
    my $c = connect_as($path);
    for my $topic (qw(t lv.a own.a)) {
        my $r = command($c, cmd_kafka_produce => topic => $topic,
                        partition => 0, value => 'v');
        push @out, "$path $topic: "
                   . ($r =~ /^produce/ ? 'produced' : $r);
    }
}
\@out;
--- ws_response
/http t: produced
/http lv.a: produced
/http own.a: produced
/lv/inherit t: error code=403 message="topic \"t\" not allowed"
/lv/inherit lv.a: produced
/lv/inherit own.a: error code=403 message="topic \"own.a\" not allowed"
/lv/own t: error code=403 message="topic \"t\" not allowed"
/lv/own lv.a: error code=403 message="topic \"lv.a\" not allowed"
/lv/own own.a: produced
/lv/off t: error code=403 message="topic \"t\" not allowed"
/lv/off lv.a: error code=403 message="topic \"lv.a\" not allowed"
/lv/off own.a: error code=403 message="topic \"own.a\" not allowed"
/lv/on t: produced
/lv/on lv.a: produced
/lv/on own.a: produced



=== TEST 10: pubsub_kafka_produce and pubsub_kafka_write at one level go not together
--- config
    location = /both {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_produce on;
        pubsub_kafka_write a.*;
    }
--- must_die
--- error_log
"pubsub_kafka_produce" and "pubsub_kafka_write" go not together
