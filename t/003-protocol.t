# The pubsub protocol on a bare "pubsub;" endpoint: PubSubReq decoding,
# dispatch (CmdPing only), error responses, sequence echo, ordering, and
# the configuration checks of the directives.

use lib 't/lib';
use Test::PubSub;

run_tests();

__DATA__

=== TEST 1: undecodable bytes: "malformed request" naming the fault, sequence 0, the connection stays
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary("\xff\xff"), ws_binary(pb_req(sequence => 2, cmd_ping => { state => "alive" })) ]
--- ws_response
seq=0 error code=0 message="malformed request: PubSubReq is cut short"
seq=2 pong state="alive"
--- error_log
pubsub: client sent a bad request of 2 bytes, sequence 0: malformed request: PubSubReq is cut short
--- no_error_log
[error]



=== TEST 2: truncated request (a length running past the end): the sequence read before the fault is echoed
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
my $req = pb_req(sequence => 5, cmd_ping => { state => "truncated" });
[ ws_binary(substr $req, 0, -3), ws_binary(pb_req(sequence => 6, cmd_ping => {})) ]
--- ws_response
seq=5 error code=0 message="malformed request: PubSubReq.cmd_ping is cut short"
seq=6 pong state=""
--- error_log eval
[ 'pubsub: client sent a bad request of ' . (length(pb_req(sequence => 5, cmd_ping => { state => "truncated" })) - 3) . ' bytes, sequence 5' ]
--- no_error_log
[error]



=== TEST 3: request with only a sequence: ignored (logged at info), the connection stays
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 12345)), ws_binary(pb_req(sequence => 3, cmd_ping => { state => "next" })) ]
--- ws_response
seq=3 pong state="next"
--- error_log eval
qr/\[info\] .*pubsub: client sent a request with no command, sequence 12345, ignored/
--- no_error_log
[error]
[warn]
bad request



=== TEST 4: empty binary message: a request with no command, sequence 0
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(""), ws_binary(pb_req(sequence => 4, cmd_ping => {})) ]
--- ws_response
seq=4 pong state=""
--- error_log
pubsub: client sent a request with no command, sequence 0, ignored
--- no_error_log
[error]



=== TEST 5: CmdEmpty has no handler: "unknown command" with the sequence
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 55, cmd_empty => {})),
  ws_binary(pb_req(sequence => 56, cmd_ping => { state => "ok" })) ]
--- ws_response
seq=55 error code=0 message="unknown command"
seq=56 pong state="ok"
--- error_log
pubsub: no handler for command 31
--- no_error_log
[error]



=== TEST 6: CmdKafkaFetch on a bare pubsub location: "unknown command"
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 7, cmd_kafka_fetch => { topic => "t", partition => 0, offset => 0 })),
  ws_binary(pb_req(sequence => 8, cmd_kafka_list_offset => { topic => "t", partition => 0, timestamp => -1 })) ]
--- ws_response
seq=7 error code=0 message="unknown command"
seq=8 error code=0 message="unknown command"
--- error_log
pubsub: no handler for command 33
pubsub: no handler for command 34
--- no_error_log
[error]



=== TEST 7: sequence echoed exactly: 0, 1, -1, int64 max and min
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ map { ws_binary(pb_req(sequence => $_, cmd_ping => { state => "s$_" })) }
  0, 1, -1, 9223372036854775807, -9223372036854775808 ]
--- ws_response
seq=0 pong state="s0"
seq=1 pong state="s1"
seq=-1 pong state="s-1"
seq=9223372036854775807 pong state="s9223372036854775807"
seq=-9223372036854775808 pong state="s-9223372036854775808"
--- no_error_log
[error]



=== TEST 8: sequence echoed in error responses too
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => -9223372036854775808, cmd_empty => {})),
  ws_binary(pb_req(sequence => 9223372036854775807, cmd_empty => {})) ]
--- ws_response
seq=-9223372036854775808 error code=0 message="unknown command"
seq=9223372036854775807 error code=0 message="unknown command"
--- no_error_log
[error]



=== TEST 9: binary state bytes come back unchanged
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my $state = join '', map { chr } 0 .. 255;
$ws->send_req(sequence => 9, cmd_ping => { state => $state });
my $r = $ws->recv_resp;
return $r->{sequence} . ' ' . ($r->{pong_resp}{state} eq $state ? 'same' : 'differs');
--- ws_response
9 same
--- no_error_log
[error]



=== TEST 10: unknown fields are skipped, the command is served
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_field(2, varint => 300) . pb_field(5, bytes => "extra")
            . pb_req(sequence => 10, cmd_ping => { state => "known" })
            . pb_field(40, fixed64 => 1)) ]
--- ws_response
seq=10 pong state="known"
--- no_error_log
[error]
bad request



=== TEST 11: many requests in one write are all answered, in order
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ map { ws_binary(pb_req(sequence => $_, cmd_ping => { state => "n$_" })) } 1 .. 200 ]
--- ws_response eval
join "\n", map { "seq=$_ pong state=\"n$_\"" } 1 .. 200
--- no_error_log
[error]



=== TEST 12: requests, errors and control frames interleaved keep their order
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => {})),
  ws_binary(pb_req(sequence => 2, cmd_empty => {})),
  ws_ping("c1"),
  ws_binary("\xff"),
  ws_binary(pb_req(sequence => 3)),
  ws_binary(pb_req(sequence => 4, cmd_ping => { state => "last" })) ]
--- ws_response
seq=1 pong state=""
seq=2 error code=0 message="unknown command"
pong "c1"
seq=0 error code=0 message="malformed request: PubSubReq is cut short"
seq=4 pong state="last"
--- no_error_log
[error]



=== TEST 13: pubsub twice in one location: nginx -t fails
--- config
    location = /ws {
        pubsub;
        pubsub;
    }
--- must_die
--- error_log
is duplicate
--- no_error_log
[error]



=== TEST 14: pubsub_max_message_size under 16 bytes: nginx -t fails
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 8;
    }
--- must_die
--- error_log
"pubsub_max_message_size" must be at least 16 bytes
--- no_error_log
[error]



=== TEST 15: pubsub_max_message_size of 16 bytes is accepted
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 16;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => { state => "123456789" })),
  ws_binary(pb_req(sequence => 2, cmd_ping => { state => "1234567890" })) ]
--- ws_response
seq=1 pong state="123456789"
close 1009
eof
--- error_log
message over the size limit
--- no_error_log
[error]



=== TEST 16: pubsub_output_queue_size under 1k: nginx -t fails
--- config
    location = /ws {
        pubsub;
        pubsub_output_queue_size 100;
    }
--- must_die
--- error_log
"pubsub_output_queue_size" must be at least 1k
--- no_error_log
[error]



=== TEST 17: pubsub_max_inflight 0: nginx -t fails
--- config
    location = /ws {
        pubsub;
        pubsub_max_inflight 0;
    }
--- must_die
--- error_log
value must be between 1 and 65536
--- no_error_log
[error]



=== TEST 18: a bad limit inherited from the server level also fails
--- config
    pubsub_max_message_size 15;
    location = /ws {
        pubsub;
    }
--- must_die
--- error_log
"pubsub_max_message_size" must be at least 16 bytes
--- no_error_log
[error]



=== TEST 19: pubsub takes no arguments
--- config
    location = /ws {
        pubsub on;
    }
--- must_die
--- error_log
invalid number of arguments in "pubsub" directive
--- no_error_log
[error]



=== TEST 20: settings at the server level are inherited by the location
--- config
    pubsub_max_message_size 32;
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => { state => "x" x 25 })),
  ws_binary(pb_req(sequence => 2, cmd_ping => { state => "x" x 26 })) ]
--- ws_response eval
'seq=1 pong state="' . ("x" x 25) . "\"\nclose 1009\neof"
--- error_log
message over the size limit
--- no_error_log
[error]
