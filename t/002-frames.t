# WebSocket framing (RFC 6455 section 5): protocol errors close with a
# close frame carrying the status code then TCP EOF; fragmentation, control
# frames, close handshake, text messages and server frames of any size.

use lib 't/lib';
use Test::PubSub;
use Time::HiRes qw(time);

# Read the next server frame and say which length encoding its header
# used: "7-bit", "16-bit" or "64-bit", with the frame (undef on timeout or
# EOF).
sub raw_frame {
    my ($ws) = @_;
    my $deadline = time + $ws->{timeout};
    while (length $ws->{buf} < 2) {
        return undef if $ws->{eof} || time > $deadline;
        $ws->_fill($deadline - time);
    }
    my $len = ord(substr $ws->{buf}, 1, 1) & 0x7f;
    my $kind = $len == 127 ? '64-bit' : $len == 126 ? '16-bit' : '7-bit';
    my $f = $ws->recv_frame;
    return ref $f ? ($kind, $f) : undef;
}

run_tests();

__DATA__

=== TEST 1: unmasked client frame: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => {}), mask => 0) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: unmasked frame
--- no_error_log
[error]



=== TEST 2: RSV1 set: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => {}), rsv => 4) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: reserved bits set
--- no_error_log
[error]



=== TEST 3: RSV3 set on a ping: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_ping("x", rsv => 1) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: reserved bits set
--- no_error_log
[error]



=== TEST 4: unknown data opcode 3: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_frame(3, "abc") ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: unknown opcode
--- no_error_log
[error]



=== TEST 5: unknown control opcode 0xB: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_frame(0xb, "abc") ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: unknown opcode
--- no_error_log
[error]



=== TEST 6: ping with a 126-byte payload (16-bit length): close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_ping("p" x 126) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: control frame over 125 bytes
--- no_error_log
[error]
[warn]



=== TEST 7: ping of 125 bytes is fine
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_ping("p" x 125) ]
--- ws_response eval
'pong "' . ("p" x 125) . '"'
--- no_error_log
[error]
invalid websocket frame



=== TEST 8: fragmented ping: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_ping("ab", fin => 0) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: fragmented control frame
--- no_error_log
[error]



=== TEST 9: continuation frame with no message started: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_cont(pb_req(sequence => 1, cmd_ping => {})) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: continuation frame with no message started
--- no_error_log
[error]



=== TEST 10: continuation after a finished message: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
my $req = pb_req(sequence => 10, cmd_ping => { state => "s" });
[ ws_binary(substr($req, 0, 3), fin => 0), ws_cont(substr($req, 3)),
  ws_cont("") ]
--- ws_response
seq=10 pong state="s"
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: continuation frame with no message started
--- no_error_log
[error]



=== TEST 11: new binary frame inside an unfinished fragmented message: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
my $req = pb_req(sequence => 1, cmd_ping => {});
[ ws_binary(substr($req, 0, 2), fin => 0), ws_binary($req) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: new data frame inside an unfinished fragmented message
--- no_error_log
[error]



=== TEST 12: new text frame inside an unfinished fragmented message: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary("\x08", fin => 0), ws_text("hello") ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: new data frame inside an unfinished fragmented message
--- no_error_log
[error]



=== TEST 13: 64-bit length with the most significant bit set: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_binary("abc", length => (1 << 63) | 3) . "abc" ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid websocket frame: frame length has its most significant bit set
--- no_error_log
[error]



=== TEST 14: message over pubsub_max_message_size: close 1009
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 64;
    }
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => { state => "x" x 93 })) ]
--- ws_response
close 1009
eof
--- error_log
pubsub: client sent invalid websocket frame: message over the size limit
--- no_error_log
[error]



=== TEST 15: one byte over the limit: close 1009
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 64;
    }
--- ws_request eval
my $req = pb_req(sequence => 1, cmd_ping => { state => "x" x 58 });
die "request is " . length($req) . " bytes\n" unless length $req == 65;
[ ws_binary($req) ]
--- ws_response
close 1009
eof
--- error_log
pubsub: client sent invalid websocket frame: message over the size limit
--- no_error_log
[error]



=== TEST 16: a message of exactly the limit is accepted
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 64;
    }
--- ws_request eval
my $req = pb_req(sequence => 1, cmd_ping => { state => "x" x 57 });
die "request is " . length($req) . " bytes\n" unless length $req == 64;
[ ws_binary($req) ]
--- ws_response eval
'seq=1 pong state="' . ("x" x 57) . '"'
--- no_error_log
[error]
invalid websocket frame



=== TEST 17: fragments that together exceed the limit: close 1009
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 64;
    }
--- ws_request eval
my $req = pb_req(sequence => 1, cmd_ping => { state => "x" x 73 });
[ ws_binary(substr($req, 0, 40), fin => 0), ws_cont(substr($req, 40)) ]
--- ws_response
close 1009
eof
--- error_log
pubsub: client sent invalid websocket frame: message over the size limit
--- no_error_log
[error]



=== TEST 18: fragments that together make exactly the limit are accepted
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 64;
    }
--- ws_request eval
my $req = pb_req(sequence => 18, cmd_ping => { state => "y" x 57 });
[ ws_binary(substr($req, 0, 20), fin => 0), ws_cont(substr($req, 20, 20), fin => 0),
  ws_cont(substr($req, 40)) ]
--- ws_response eval
'seq=18 pong state="' . ("y" x 57) . '"'
--- no_error_log
[error]
invalid websocket frame



=== TEST 19: the limit applies per message: two messages of the limit in a row
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 64;
    }
--- ws_request eval
my @f;
for my $seq (1, 2) {
    my $req = pb_req(sequence => $seq, cmd_ping => { state => "z" x 57 });
    push @f, ws_binary(substr($req, 0, 30), fin => 0), ws_cont(substr($req, 30));
}
\@f
--- ws_response eval
join "\n", map { "seq=$_ pong state=\"" . ("z" x 57) . '"' } 1, 2
--- no_error_log
[error]
invalid websocket frame



=== TEST 20: fragmented message with a ping in between is reassembled
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
my $req = pb_req(sequence => 77, cmd_ping => { state => "reassembled" });
[ ws_binary(substr($req, 0, 5), fin => 0), ws_ping("in between"),
  ws_cont(substr($req, 5)) ]
--- ws_response
pong "in between"
seq=77 pong state="reassembled"
--- no_error_log
[error]



=== TEST 21: fragmented message, fragments in separate writes
--- config
    location = /ws {
        pubsub;
    }
--- ws_send_delay: 0.05
--- ws_request eval
my $req = pb_req(sequence => 78, cmd_ping => { state => "abcdefghij" });
[ ws_binary(substr($req, 0, 4), fin => 0), ws_cont("", fin => 0),
  ws_ping("p"), ws_cont(substr($req, 4, 6), fin => 0),
  ws_cont(substr($req, 10)) ]
--- ws_response
pong "p"
seq=78 pong state="abcdefghij"
--- no_error_log
[error]



=== TEST 22: a message split byte by byte across writes
--- config
    location = /ws {
        pubsub;
    }
--- ws_send_delay: 0.01
--- ws_request eval
my $bytes = ws_binary(pb_req(sequence => 300, cmd_ping => { state => "bytewise" }))
    . ws_ping("c");
[ split //, $bytes ]
--- ws_response
seq=300 pong state="bytewise"
pong "c"
--- no_error_log
[error]



=== TEST 23: a 16-bit length frame split byte by byte across writes
--- config
    location = /ws {
        pubsub;
    }
--- ws_send_delay: 0.002
--- ws_request eval
my $bytes = ws_binary(pb_req(sequence => 301, cmd_ping => { state => "q" x 150 }));
[ (split //, substr $bytes, 0, 12), substr($bytes, 12) ]
--- ws_response eval
'seq=301 pong state="' . ("q" x 150) . '"'
--- no_error_log
[error]



=== TEST 24: ping gets a pong with the same payload
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_ping("hello \x00\xff") ]
--- ws_response
pong "hello \x00\xff"
--- no_error_log
[error]



=== TEST 25: empty ping gets an empty pong
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_ping(""), ws_ping("second") ]
--- ws_response
pong ""
pong "second"
--- no_error_log
[error]



=== TEST 26: unsolicited pong is ignored
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_pong("unsolicited"), ws_binary(pb_req(sequence => 26, cmd_ping => { state => "after" })) ]
--- ws_response
seq=26 pong state="after"
--- no_error_log
[error]
[warn]



=== TEST 27: close 1000: the server answers close 1000, then EOF
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(1000, "bye") ]
--- ws_response
close 1000
eof
--- no_error_log
[error]
[warn]
invalid close frame
without a close frame



=== TEST 28: close with an application code 4000 is echoed
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(4000) ]
--- ws_response
close 4000
eof
--- no_error_log
[error]
invalid close frame



=== TEST 29: close without a code: close without a code, then EOF
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(undef) ]
--- ws_response
close
eof
--- no_error_log
[error]
invalid close frame



=== TEST 30: close with code 1005 (reserved): close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(1005) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid close frame
--- no_error_log
[error]



=== TEST 31: close with code 999: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(999) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid close frame
--- no_error_log
[error]



=== TEST 32: close with code 2000: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(2000) ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid close frame
--- no_error_log
[error]



=== TEST 33: close with a 1-byte payload: close 1002
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_frame("close", "\x03") ]
--- ws_response
close 1002
eof
--- error_log
pubsub: client sent invalid close frame
--- no_error_log
[error]



=== TEST 34: nothing after the close frame is processed
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_close(1000), ws_binary(pb_req(sequence => 1, cmd_ping => {})), ws_ping("late") ]
--- ws_response
close 1000
eof
--- no_error_log
[error]



=== TEST 35: text message is ignored with a warning; the connection stays
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_text("hello text"), ws_binary(pb_req(sequence => 35, cmd_ping => { state => "after text" })) ]
--- ws_response
seq=35 pong state="after text"
--- error_log
pubsub: ignored a text message of 10 bytes, only binary messages carry commands
--- no_error_log
[error]



=== TEST 36: fragmented text message is ignored once, with its whole length
--- config
    location = /ws {
        pubsub;
    }
--- ws_request eval
[ ws_text("abc", fin => 0), ws_cont("defg", fin => 0), ws_cont("hi"),
  ws_binary(pb_req(sequence => 36, cmd_ping => {})) ]
--- ws_response
seq=36 pong state=""
--- error_log
pubsub: ignored a text message of 9 bytes, only binary messages carry commands
--- no_error_log
[error]
ignored a text message of 3 bytes
ignored a text message of 4 bytes
ignored a text message of 2 bytes



=== TEST 37: bytes sent with the handshake in the same write are processed
--- config
    location = /ws {
        pubsub;
    }
--- ws_pipeline
--- ws_request eval
[ ws_binary(pb_req(sequence => 37, cmd_ping => { state => "pipelined" })),
  ws_ping("too") ]
--- ws_response
seq=37 pong state="pipelined"
pong "too"
--- no_error_log
[error]



=== TEST 38: a close frame sent with the handshake
--- config
    location = /ws {
        pubsub;
    }
--- ws_pipeline
--- ws_request eval
[ ws_binary(pb_req(sequence => 38, cmd_ping => {})), ws_close(1000) ]
--- ws_response
seq=38 pong state=""
close 1000
eof
--- no_error_log
[error]



=== TEST 39: server frames: 125 bytes (7-bit), 200 bytes (16-bit) and 70000 bytes (64-bit)
--- config
    location = /ws {
        pubsub;
        pubsub_max_message_size 128k;
    }
--- ws_code
my @out;
# state sizes giving responses of 125, 210, 65535, 65536 and 70013 bytes
for my $size (118, 200, 65522, 65523, 70000) {
    my $state = join '', map { chr(($_ * 7 + $size) % 256) } 1 .. $size;
    $ws->send_req(sequence => $size, cmd_ping => { state => $state });
    my ($kind, $f) = raw_frame($ws);
    die "no frame for $size\n" unless $f;
    my $r = pb_resp_decode($f->{payload});
    my $same = $r && $r->{pong_resp} && $r->{pong_resp}{state} eq $state
        ? 'same state' : 'WRONG STATE';
    push @out, "$size: $kind length $f->{length} opcode $f->{opcode}"
        . " fin $f->{fin} seq " . ($r ? $r->{sequence} : '?') . " $same";
}
return \@out;
--- ws_response
118: 7-bit length 125 opcode 2 fin 1 seq 118 same state
200: 16-bit length 210 opcode 2 fin 1 seq 200 same state
65522: 16-bit length 65535 opcode 2 fin 1 seq 65522 same state
65523: 64-bit length 65536 opcode 2 fin 1 seq 65523 same state
70000: 64-bit length 70013 opcode 2 fin 1 seq 70000 same state
--- no_error_log
[error]



=== TEST 40: a pong of 125 bytes uses the 7-bit length, 126 the 16-bit one
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my @out;
for my $size (125, 126) {
    $ws->send(ws_ping("a" x $size)) if $size == 125;
    $ws->send(ws_binary(pb_req(sequence => 1, cmd_ping => { state => "b" x ($size - 7) })))
        if $size == 126;
    my ($kind, $f) = raw_frame($ws);
    die "no frame for $size\n" unless $f;
    push @out, "$size: $kind length $f->{length}";
}
return \@out;
--- ws_response
125: 7-bit length 125
126: 16-bit length 126
--- no_error_log
[error]
