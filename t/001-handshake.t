# The WebSocket opening handshake (RFC 6455 section 4.2) of pubsub
# locations: what is refused and how, the 101 response, HTTP/2, and
# nginx's access phase (allow/deny, auth_basic, auth_request, limit_conn)
# running before the handshake.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(free_port);

# a second port, for the HTTP/2 server of one block
$ENV{TEST_NGINX_H2_PORT} = free_port();

run_tests();

__DATA__

=== TEST 1: plain GET without upgrade headers is refused with 400
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- error_code: 400
--- response_headers
!Upgrade
!Sec-WebSocket-Accept
--- error_log
pubsub: bad "upgrade" request header: none
--- no_error_log
[error]



=== TEST 2: Upgrade header naming another protocol is refused with 400
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: foo
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- error_log
pubsub: bad "upgrade" request header: "foo"
--- no_error_log
[error]



=== TEST 3: Upgrade value is matched case-insensitively
--- config
    location = /ws {
        pubsub;
    }
--- more_headers
Upgrade: WebSocket
--- ws_request eval
[ ws_binary(pb_req(sequence => 3, cmd_ping => { state => "u" })) ]
--- ws_response
seq=3 pong state="u"
--- no_error_log
[error]
bad "upgrade"



=== TEST 4: Connection header without the upgrade token is refused with 400
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: keep-alive
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- error_log
pubsub: bad "connection" request header: no "upgrade" token
--- no_error_log
[error]



=== TEST 5: Connection with the upgrade token in a list is accepted
--- config
    location = /ws {
        pubsub;
    }
--- more_headers
Connection: keep-alive, Upgrade
--- ws_request eval
[ ws_binary(pb_req(sequence => 5, cmd_ping => { state => "list" })) ]
--- ws_response
seq=5 pong state="list"
--- no_error_log
[error]
bad "connection"



=== TEST 6: the upgrade token is matched case-insensitively, anywhere in the list
--- config
    location = /ws {
        pubsub;
    }
--- more_headers
Connection: UPGRADE,keep-alive
--- ws_request eval
[ ws_binary(pb_req(sequence => 6, cmd_ping => { state => "case" })) ]
--- ws_response
seq=6 pong state="case"
--- no_error_log
[error]
bad "connection"



=== TEST 7: a token merely containing "upgrade" does not count
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: keep-alive, upgrades
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- error_log
pubsub: bad "connection" request header: no "upgrade" token
--- no_error_log
[error]



=== TEST 8: Sec-WebSocket-Version 12 gets 426 naming version 13
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 12
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
!Sec-WebSocket-Accept
!Upgrade
--- error_log
pubsub: bad "sec-websocket-version" request header: "12"
--- no_error_log
[error]



=== TEST 9: missing Sec-WebSocket-Version gets 426 too
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
!Sec-WebSocket-Accept
--- error_log
pubsub: bad "sec-websocket-version" request header: none
--- no_error_log
[error]



=== TEST 10: 426 through the WebSocket client: status line and header
--- config
    location = /ws {
        pubsub;
    }
--- more_headers
Sec-WebSocket-Version: 8
--- ws_handshake_status: 426
--- ws_code
die "not reached: the handshake is refused\n";
--- error_log
pubsub: bad "sec-websocket-version" request header: "8"
--- no_error_log
[error]



=== TEST 11: missing Sec-WebSocket-Key is refused with 400
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- error_log
pubsub: bad "sec-websocket-key" request header: none
--- no_error_log
[error]



=== TEST 12: Sec-WebSocket-Key that is not 16 bytes in base64 is refused
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: abc
Sec-WebSocket-Version: 13
--- error_code: 400
--- error_log
pubsub: bad "sec-websocket-key" request header: "abc"
--- no_error_log
[error]



=== TEST 13: 24 characters that are not base64 of 16 bytes are refused
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA
Sec-WebSocket-Version: 13
--- error_code: 400
--- error_log
pubsub: bad "sec-websocket-key" request header: "AAAAAAAAAAAAAAAAAAAAAAAA"
--- no_error_log
[error]



=== TEST 14: two Sec-WebSocket-Key headers are refused
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- error_log
pubsub: bad "sec-websocket-key" request header: "dGhlIHNhbXBsZSBub25jZQ=="
--- no_error_log
[error]



=== TEST 15: POST is refused with 400
--- config
    location = /ws {
        pubsub;
    }
--- request
POST /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- error_log
pubsub: websocket handshake method is not GET
--- no_error_log
[error]



=== TEST 16: HTTP/1.0 is refused with 400
--- config
    location = /ws {
        pubsub;
    }
--- request
GET /ws HTTP/1.0
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- error_log
pubsub: websocket handshake needs HTTP/1.1
--- no_error_log
[error]



=== TEST 17: HTTP/2 is refused with 400
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT http2;
        server_name h2;

        location = /ws {
            pubsub;
        }
    }
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my $port = $ENV{TEST_NGINX_H2_PORT};
my $out = `curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:$port/ws 2>&1`;
die "curl failed (exit status $?): $out\n" if $?;
return $out;
--- ws_response
2 400
--- error_log
pubsub: websocket over HTTP/2 is not supported
--- no_error_log
[error]



=== TEST 18: 101 response: status line, Upgrade, Connection, Sec-WebSocket-Accept
--- config
    location = /ws {
        pubsub;
    }
--- more_headers
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- ws_code
my @lines = split /\r\n/, $ws->{head};
my @out = ($lines[0]);
push @out, 'Upgrade: ' . ($ws->header('Upgrade') // 'none');
push @out, 'Connection: ' . ($ws->header('Connection') // 'none');
push @out, 'Sec-WebSocket-Accept: '
    . ($ws->header('Sec-WebSocket-Accept') // 'none');
push @out, 'Content-Length: ' . ($ws->header('Content-Length') // 'none');
push @out, 'Transfer-Encoding: '
    . ($ws->header('Transfer-Encoding') // 'none');
$ws->send_req(sequence => 1, cmd_ping => { state => 'x' });
push @out, $ws->recv_line;
return \@out;
--- ws_response
HTTP/1.1 101 Switching Protocols
Upgrade: websocket
Connection: upgrade
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
Content-Length: none
Transfer-Encoding: none
seq=1 pong state="x"
--- no_error_log
[error]



=== TEST 19: deny all: 403, no upgrade
--- config
    location = /ws {
        deny all;
        pubsub;
    }
--- more_headers
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- ws_handshake_status: 403
--- ws_code
die "not reached\n";
--- error_log
access forbidden by rule
--- no_error_log
Sec-WebSocket-Accept
pubsub: bad
[crit]



=== TEST 20: deny all, checked with a plain request: 403 without Upgrade
--- config
    location = /ws {
        deny all;
        pubsub;
    }
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 403
--- response_headers
!Upgrade
!Sec-WebSocket-Accept
--- error_log
access forbidden by rule
--- no_error_log
[crit]



=== TEST 21: allow 127.0.0.1; deny all: 101
--- config
    location = /ws {
        allow 127.0.0.1;
        deny all;
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 21, cmd_ping => { state => "allowed" })) ]
--- ws_response
seq=21 pong state="allowed"
--- no_error_log
[error]



=== TEST 22: auth_basic without credentials: 401
--- config
    location = /ws {
        auth_basic "pubsub";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        pubsub;
    }
--- user_files
>>> htpasswd
user:{PLAIN}secret
--- ws_handshake_status: 401
--- ws_code
die "not reached\n";
--- no_error_log
[error]
pubsub: bad



=== TEST 23: auth_basic with a wrong password: 401
--- config
    location = /ws {
        auth_basic "pubsub";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        pubsub;
    }
--- user_files
>>> htpasswd
user:{PLAIN}secret
--- more_headers
Authorization: Basic dXNlcjp3cm9uZw==
--- ws_handshake_status: 401
--- ws_code
die "not reached\n";
--- error_log
password mismatch
--- no_error_log
pubsub: bad
[crit]



=== TEST 24: auth_basic with credentials: 101
--- config
    location = /ws {
        auth_basic "pubsub";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        pubsub;
    }
--- user_files
>>> htpasswd
user:{PLAIN}secret
--- more_headers
Authorization: Basic dXNlcjpzZWNyZXQ=
--- ws_request eval
[ ws_binary(pb_req(sequence => 24, cmd_ping => { state => "authed" })) ]
--- ws_response
seq=24 pong state="authed"
--- no_error_log
[error]



=== TEST 25: auth_request allowing: 101
--- config
    location = /ws {
        auth_request /auth;
        pubsub;
    }
    location = /auth {
        internal;
        return 204;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 25, cmd_ping => { state => "sub" })) ]
--- ws_response
seq=25 pong state="sub"
--- no_error_log
[error]
websocket in subrequest



=== TEST 26: auth_request refusing: 403
--- config
    location = /ws {
        auth_request /auth;
        pubsub;
    }
    location = /auth {
        internal;
        return 403;
    }
--- ws_handshake_status: 403
--- ws_code
die "not reached\n";
--- no_error_log
[error]
pubsub: bad



=== TEST 27: limit_conn: a second WebSocket gets 503 while the first is open
--- http_config
    limit_conn_zone $binary_remote_addr zone=one:1m;
--- config
    location = /ws {
        limit_conn one 1;
        pubsub;
    }
--- ws_code
my @out;
$ws->send_req(sequence => 1, cmd_ping => { state => 'first' });
push @out, $ws->recv_line;
my $second = ws_connect(status => 503);
push @out, "second: $second->{status}";
$second->close;
$ws->send_req(sequence => 2, cmd_ping => { state => 'still' });
push @out, $ws->recv_line;
return \@out;
--- ws_response
seq=1 pong state="first"
second: 503
seq=2 pong state="still"
--- error_log
limiting connections by zone "one"
--- no_error_log
[crit]



=== TEST 28: limit_conn: the slot is free again once the WebSocket closed
--- http_config
    limit_conn_zone $binary_remote_addr zone=one:1m;
--- config
    location = /ws {
        limit_conn one 1;
        # a retry while the first connection finishes its lingering close
        # is expected: not an error here
        limit_conn_log_level info;
        pubsub;
    }
--- ws_code
my @out;
$ws->send(ws_close(1000));
push @out, $ws->recv_lines(2);
$ws->close;
# the slot is released once the server saw our FIN after its close
# (lingering close): retry for a bounded time while it answers 503
my ($second, $err);
for (1 .. 100) {
    $second = eval { ws_connect() } and last;
    $err = $@;
    die $err unless $err =~ /expected status 101, got 503/;
    select undef, undef, undef, 0.05;
}
die "still 503: $err" unless $second;
$second->send_req(sequence => 2, cmd_ping => { state => 'again' });
push @out, $second->recv_line;
return \@out;
--- ws_response
close 1000
eof
seq=2 pong state="again"
--- no_error_log
[error]
