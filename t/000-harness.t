# Self-test of the harness (t/lib/Test/PubSub*): the protobuf codec, the
# frame builder and parser, the line rendering, the WebSocket client
# against a small in-process server, and the pure parts of the block
# runner.  Needs neither nginx, the module nor a Kafka broker.

use lib 't/lib';
use Test::PubSub;

use IO::Socket::INET;
use POSIX ();
use Test::PubSub::HTTP qw(build_request parse_response dechunk);
use Test::PubSub::Mock;
use Test::PubSub::Util qw(read_file write_file);
use Time::HiRes qw(time);

sub hex_of { unpack 'H*', $_[0] }
sub bytes  { pack 'H*', join '', map { s/\s+//gr } @_ }

# ---------------------------------------------------------------------------
# Protobuf: varints

is hex_of(pb_varint(0)),   '00',   'varint 0';
is hex_of(pb_varint(1)),   '01',   'varint 1';
is hex_of(pb_varint(127)), '7f',   'varint 127';
is hex_of(pb_varint(128)), '8001', 'varint 128';
is hex_of(pb_varint(300)), 'ac02', 'varint 300';
is hex_of(pb_varint(-1)), 'ffffffffffffffffff01', 'varint -1: 10 bytes';
is hex_of(pb_varint(9223372036854775807)), 'ffffffffffffffff7f',
    'varint int64 max';
is hex_of(pb_varint(-9223372036854775808)), '80808080808080808001',
    'varint int64 min';
is hex_of(pb_key(32, 2)), '8202', 'key of field 32, length-delimited';

# ---------------------------------------------------------------------------
# Protobuf: encoding requests (proto3)

is hex_of(pb_req(sequence => 7, cmd_ping => { state => 'abc' })),
    '0807' . '8202' . '05' . '0a03616263', 'ping request';
is hex_of(pb_req(cmd_empty => {})), 'fa0100',
    'empty sub-message is still sent';
is hex_of(pb_req(sequence => 0, cmd_ping => { state => '' })), '820200',
    'zero sequence and empty state are omitted';
is hex_of(pb_req(sequence => -1)), '08ffffffffffffffffff01',
    'negative sequence';
is hex_of(pb_req()), '', 'nothing set: empty message';
is hex_of(pb_req(cmd_ping => {}, sequence => 1)), '82020008' . '01',
    'fields in argument order';
is hex_of(pb_req(sequence => 1, _raw => "\x98\x06\x05")), '0801980605',
    '_raw bytes appended';
is hex_of(pb_req(cmd_kafka_fetch =>
        { offset => 3, topic => 't', partition => -2 })),
    '8a02' . '10' . '0a0174' . '10feffffffffffffffff01' . '1803',
    'fetch: sub-message fields in field-number order, negative int32';
is hex_of(pb_req(cmd_kafka_list_offset =>
        { topic => 'ab', timestamp => -1 })),
    '9202' . '0f' . '0a026162' . '18ffffffffffffffffff01',
    'list offset with timestamp -1';
ok !eval { pb_req(cmd_ping => { stat => 1 }); 1 }, 'unknown field dies';
like $@, qr/CmdPing has no field 'stat'/, '... saying which';
is hex_of(pb_field(5, varint => 1) . pb_field(6, bytes => 'x')
          . pb_field(7, fixed32 => 1) . pb_field(8, fixed64 => 2)),
    '2801' . '320178' . '3d01000000' . '410200000000000000',
    'raw fields of every wire type';
is hex_of(pb_req(cmd_ping => { state => "\x{e9}" })), '8202030a01e9',
    'byte string kept as bytes';
is hex_of(pb_req(cmd_ping => { state => "\x{263a}" })),
    '8202050a03e298ba', 'wide characters UTF-8 encoded';

# ---------------------------------------------------------------------------
# Protobuf: decoding and round trips

is_deeply pb_req_decode(pb_req(sequence => 7, cmd_ping => { state => 'abc' })),
    { sequence => 7, cmd_ping => { state => 'abc' } }, 'request round trip';
is_deeply pb_req_decode(pb_req(sequence => -5, cmd_empty => {})),
    { sequence => -5, cmd_empty => {} }, 'negative int64, empty sub-message';
is_deeply pb_req_decode(''), { sequence => 0 }, 'empty input: defaults';
is_deeply pb_req_decode(pb_req(cmd_kafka_fetch =>
        { topic => 'x', partition => -1, offset => -9223372036854775808 })),
    { sequence => 0, cmd_kafka_fetch =>
        { topic => 'x', partition => -1, offset => -9223372036854775808 } },
    'fetch round trip with extreme values';

my %resp = (
    error => { sequence => 3,
               error_resp => { code => -7, message => 'bad' } },
    pong  => { sequence => -2, pong_resp => { state => "\0\xff" } },
    list  => { sequence => 9223372036854775807,
               kafka_list_offset_resp => { offset => 42 } },
    fetch => { sequence => 1, kafka_fetch_resp => { messages => [
        { offset => 14, timestamp => 1700000000000, key => '',
          value => 'testmsg15', headers => [], partition => 0 },
        { offset => 15, timestamp => 0, key => 'k', value => '',
          headers => [ { key => 'h', value => "\0" } ], partition => 0 },
    ] } },
    none  => { sequence => 4 },
);
for my $name (sort keys %resp) {
    is_deeply pb_resp_decode(pb_resp_encode($resp{$name})), $resp{$name},
        "response round trip: $name";
}
is_deeply pb_resp_decode(pb_resp_encode({ kafka_fetch_resp => {} })),
    { sequence => 0, kafka_fetch_resp => { messages => [] } },
    'empty fetch response';
is_deeply pb_resp_decode(pb_resp_encode({ pong_resp => {} })),
    { sequence => 0, pong_resp => { state => '' } },
    'empty pong response: defaults filled in';

# unknown fields of every wire type are skipped, also inside sub-messages
my $unknown = pb_field(2, varint => 300) . pb_field(3, fixed64 => -1)
    . pb_field(4, bytes => 'zz') . pb_field(5, fixed32 => 7)
    . pb_key(6, 3) . pb_field(1, varint => 1) . pb_key(6, 4)
    . pb_field(100, varint => -1);
is_deeply pb_resp_decode($unknown . pb_field(1, varint => 8)
        . pb_field(32, bytes => $unknown . pb_field(1, bytes => 's'))),
    { sequence => 8, pong_resp => { state => 's' } },
    'unknown fields skipped';

# truncated or malformed input
my $good = pb_resp_encode($resp{fetch});
for my $cut (1, 3, 4, 5, length($good) - 1) {
    is pb_resp_decode(substr $good, 0, $cut), undef,
        "truncated after $cut bytes: undef";
}
is pb_resp_decode("\x08"), undef, 'key without value: undef';
is pb_resp_decode("\x08\x80"), undef, 'truncated varint: undef';
is pb_resp_decode("\x08" . ("\xff" x 10) . "\x01"), undef,
    'varint longer than 10 bytes: undef';
is pb_resp_decode("\x0a\x00"), undef, 'known field, wrong wire type: undef';
is pb_resp_decode("\xfa\x01\x05ab"), undef,
    'length beyond the end: undef';
is pb_resp_decode("\x00\x01"), undef, 'field number 0: undef';
is pb_resp_decode("\x16\x01"), undef, 'wire type 6: undef';
is pb_resp_decode("\x34"), undef, 'end group without start: undef';
is pb_resp_decode(pb_key(6, 3) . "\x08\x01"), undef,
    'unterminated group: undef';
is pb_resp_decode(pb_field(32, bytes => "\x0a\x05ab")), undef,
    'malformed sub-message: undef';

# oneof: the last member wins; a repeated sub-message merges
is_deeply pb_resp_decode(pb_field(32, bytes => '') . pb_field(31, bytes => '')),
    { sequence => 0, error_resp => { code => 0, message => '' } },
    'oneof: last member wins';
is_deeply pb_resp_decode(pb_field(31, bytes => pb_field(1, varint => 5))
        . pb_field(31, bytes => pb_field(2, bytes => 'm'))),
    { sequence => 0, error_resp => { code => 5, message => 'm' } },
    'sub-message given twice is merged';
is pb_resp_decode(pb_field(31, bytes => pb_field(1, varint => 4294967295)))
    ->{error_resp}{code}, -1, 'int32 keeps the low 32 bits';

# ---------------------------------------------------------------------------
# Rendering of responses

is pb_resp_render(pb_resp_encode($resp{pong})), 'seq=-2 pong state="\x00\xff"',
    'render pong';
is pb_resp_render(pb_resp_encode($resp{error})),
    'seq=3 error code=-7 message="bad"', 'render error';
is pb_resp_render(pb_resp_encode($resp{list})),
    'seq=9223372036854775807 list_offset offset=42', 'render list offset';
is pb_resp_render(pb_resp_encode($resp{fetch})),
    'seq=1 fetch 14="testmsg15" 15[k]{h=\x00}=""', 'render fetch';
is pb_resp_render(pb_resp_encode({ sequence => 2, kafka_fetch_resp => {
        messages => [ { offset => 3, partition => 5, value => 'v' } ] } })),
    'seq=2 fetch 3="v"', 'render fetch: the partition is not shown';
is pb_resp_render(pb_resp_encode({ sequence => 2, kafka_subscribe_resp => {
        positions => [ { partition => 0, offset => 4 },
                       { partition => 1, offset => 0 } ], ended => 1 } })),
    'seq=2 subscribe ended 0@4 1@0', 'render subscribe';
is pb_resp_render(pb_resp_encode({ sequence => 3, kafka_produce_resp => {
        partition => 1, offset => 9, timestamp => 5 } })),
    'seq=3 produce p1@9 ts=5', 'render produce';
is pb_resp_render(pb_resp_encode({ sequence => 4, kafka_committed_resp => {
        offsets => [ { partition => 0, offset => -1 } ] } })),
    'seq=4 committed 0@-1', 'render committed';
is pb_resp_render(pb_resp_encode({ sequence => 3, kafka_fetch_resp => {} })),
    'seq=3 fetch', 'render empty fetch';
is pb_resp_render(pb_resp_encode($resp{none})), 'seq=4 none', 'render none';
is pb_resp_render(''), 'seq=0 none', 'render empty payload';
is pb_resp_render("\x08"), 'binary 08', 'render undecodable';
is pb_resp_render(pb_resp_encode({ sequence => -9223372036854775808 })),
    'seq=-9223372036854775808 none', 'render int64 min';
is quote_bytes(qq{a"b\\c\n\x7f\x{e9} ~}), '"a\"b\\\\c\x0a\x7f\xe9 ~"',
    'quote_bytes escapes';

# ---------------------------------------------------------------------------
# Frame builder: RFC 6455 section 5.7 examples

my $key = bytes('37fa213d');
is hex_of(ws_text('Hello', mask => 0)), '810548656c6c6f',
    'RFC: unmasked text "Hello"';
is hex_of(ws_text('Hello', mask_key => $key)), '818537fa213d7f9f4d5158',
    'RFC: masked text "Hello"';
is hex_of(ws_text('Hel', fin => 0, mask => 0)), '010348656c',
    'RFC: first fragment';
is hex_of(ws_cont('lo', mask => 0)), '80026c6f', 'RFC: last fragment';
is hex_of(ws_ping('Hello', mask => 0)), '890548656c6c6f',
    'RFC: unmasked ping';
is hex_of(ws_pong('Hello', mask_key => $key)), '8a8537fa213d7f9f4d5158',
    'RFC: masked pong';
is hex_of(substr ws_binary('x' x 256, mask => 0), 0, 4), '827e0100',
    'RFC: 256 bytes, 16-bit length';
is length(ws_binary('x' x 256, mask => 0)), 260, '... and the payload';
is hex_of(substr ws_binary('x' x 65536, mask => 0), 0, 10),
    '827f0000000000010000', 'RFC: 64 KiB, 64-bit length';

# options
is hex_of(ws_binary('ab', mask => 0, len16 => 1)), '827e00026162',
    'len16 forced';
is hex_of(ws_binary('ab', mask => 0, len64 => 1)),
    '827f00000000000000026162', 'len64 forced';
is hex_of(ws_binary('ab', mask => 0, length => 5)), '82056162',
    'length lie';
is hex_of(ws_binary('', mask => 0, rsv => 4, fin => 0)), '4200',
    'rsv1 set, fin clear';
is hex_of(ws_frame('close', '', mask => 0)), '8800', 'opcode by name';
is hex_of(ws_frame(0xb, 'z', mask => 0)), '8b017a', 'reserved opcode';
is hex_of(ws_close(1000, 'bye', mask => 0)), '880503e8627965',
    'close with code and reason';
is hex_of(ws_close(undef, undef, mask => 0)), '8800', 'close without code';
is length(ws_binary('abc')), 2 + 4 + 3, 'masked by default';
ok !eval { ws_frame('nope', ''); 1 }, 'unknown opcode name dies';

# parser
{
    my ($f, $used) = ws_frame_parse(bytes('818537fa213d7f9f4d5158ff'));
    is $used, 11, 'parse: consumed length';
    is_deeply $f, { fin => 1, rsv => 0, opcode => 1, masked => 1,
                    mask_key => $key, length => 5, payload => 'Hello' },
        'parse: masked frame unmasked';
    my $big = ws_binary('y' x 70000, mask => 0);
    ($f, $used) = ws_frame_parse($big);
    is $f->{length}, 70000, 'parse: 64-bit length';
    is_deeply [ws_frame_parse(substr $big, 0, 9)], [], 'parse: incomplete';
    is_deeply [ws_frame_parse(substr $big, 0, -1)], [],
        'parse: payload incomplete';
    is_deeply [ws_frame_parse("\x81")], [], 'parse: one byte';
}

# cross-check with Protocol::WebSocket when it is installed
SKIP: {
    skip 'Protocol::WebSocket not installed', 2
        unless eval { require Protocol::WebSocket::Frame; 1 };
    my $pw = Protocol::WebSocket::Frame->new(max_payload_size => 0);
    $pw->append(ws_binary('z' x 300) . ws_text('hi'));
    is $pw->next_bytes, 'z' x 300, 'Protocol::WebSocket reads our binary';
    is $pw->next_bytes, 'hi', 'Protocol::WebSocket reads our text';
}

# ---------------------------------------------------------------------------
# Rendering of server frames

sub render { ws_render((ws_frame_parse($_[0]))[0]) }

is render(ws_binary(pb_resp_encode($resp{pong}), mask => 0)),
    'seq=-2 pong state="\x00\xff"', 'render binary PubSubResp';
is render(ws_binary("\xff\xff", mask => 0)), 'binary ffff',
    'render binary garbage';
is render(ws_text(qq{h\x{e9}"}, mask => 0)), 'text "h\xe9\""',
    'render text';
is render(ws_text("\x{263a}", mask => 0)), 'text "\xe2\x98\xba"',
    'render text: wide characters were sent as UTF-8';
is render(ws_ping('p', mask => 0)), 'ping "p"', 'render ping';
is render(ws_pong('', mask => 0)), 'pong ""', 'render empty pong';
is render(ws_close(1002, 'why', mask => 0)), 'close 1002',
    'render close with code';
is render(ws_close(undef, undef, mask => 0)), 'close',
    'render close without code';
is render(ws_frame('close', 'x', mask => 0)), 'close payload=78',
    'render 1-byte close';
is render(ws_cont('ab', mask => 0)), 'cont 6162', 'render continuation';
is render(ws_frame(3, 'ab', mask => 0)), 'op3 6162', 'render opcode 3';
is render(ws_binary("\x08\x01", fin => 0, mask => 0)), '[fin=0] binary 0801',
    'render unfinished binary: not decoded';
is render(ws_text('a', rsv => 4, mask_key => $key)), '[rsv=4 masked] text "a"',
    'render rsv and mask flags';

# ---------------------------------------------------------------------------
# HTTP helpers

is build_request("GET /t\n", ['X-A: 1']),
    "GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-A: 1\r\n\r\n",
    'build_request adds protocol and headers';
is build_request("GET /t HTTP/1.0", ['Host: other', '!Connection']),
    "GET /t HTTP/1.0\r\nHost: other\r\n\r\n",
    'build_request: replaced and removed headers';
is build_request("POST /p\nbody\n"),
    "POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Content-Length: 4\r\n\r\nbody", 'build_request with a body';
is_deeply [dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")], ['abcde', 1],
    'dechunk';
is_deeply [dechunk("3\r\nabc\r\n2\r\nd")], ['abcd', 0],
    'dechunk incomplete';
{
    my $r = parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
        . "\r\nX-A: 1\r\nX-A: 2\r\n\r\n1\r\nz\r\n0\r\n\r\n");
    is $r->{status}, 200, 'parse_response status';
    is $r->{body}, 'z', 'parse_response de-chunks';
    ok $r->{complete}, 'parse_response complete';
    is_deeply $r->{headers}{'x-a'}, [1, 2], 'parse_response repeated header';
    $r = parse_response(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nab");
    ok !$r->{complete}, 'parse_response: body shorter than Content-Length';
    is parse_response("HTTP/1.1 200 OK\r\n"), undef, 'parse_response: no head';
}

# ---------------------------------------------------------------------------
# Block runner: pure parts

is Test::PubSub::substitute('a $TEST_NGINX_X b $TEST_NGINX_UNSET_Y',
        { TEST_NGINX_X => 1 }), 'a 1 b $TEST_NGINX_UNSET_Y', 'substitute';
{
    my $conf = Test::PubSub::build_config(
        name => 't', servroot => '/s', port => 1234, module => '/m.so',
        master => 1, workers => 2, log_level => 'debug', user_root => 1,
        main_config => 'thread_pool p threads=1;',
        http_config => '    upstream u { server 127.0.0.1:1; }',
        config => '    location = /t { return 200; }',
    );
    like $conf, qr/\A# [^\n]*\nload_module \/m\.so;\ndaemon off;\n/,
        'config: load_module first';
    like $conf, qr/^master_process on;\nworker_processes 2;\nuser root;$/m,
        'config: processes';
    like $conf, qr/^error_log logs\/error\.log debug;\npid logs\/nginx\.pid;$/m,
        'config: logs';
    like $conf, qr/^thread_pool p threads=1;\n\nevents \{/m,
        'config: main_config at the top level';
    like $conf, qr/client_body_temp_path \/s\/client_body_temp;/,
        'config: temp paths in the servroot';
    like $conf, qr/upstream u .*server \{\n\s+listen 127\.0\.0\.1:1234;/s,
        'config: http_config before the server';
    like $conf, qr/location = \/t \{ return 200; \}\n    \}\n\}\n\z/,
        'config: config inside the server';
    $conf = Test::PubSub::build_config(
        name => 't', servroot => '/s', port => 1, module => undef,
        master => 0, workers => 1, log_level => 'info', user_root => 0,
    );
    unlike $conf, qr/load_module|user root/, 'config: no module, no user';
    like $conf, qr/^master_process off;$/m, 'config: master off';
}
is_deeply [Test::PubSub::parse_user_files(">>> a.txt\nA\n>>> d/b\nB\nB\n")],
    [['a.txt', "A\n"], ['d/b', "B\nB\n"]], 'parse_user_files';
is_deeply [Test::PubSub::Mock::parse_section(
        "brokers: 3\ntopic: t1 2\n\ncreate x 1\nproduce x 0 v\n")],
    [3, ['t1:2'], ['create x 1', 'produce x 0 v']], 'kafka section';
is_deeply [Test::PubSub::valgrind_errors(<<'EOF')],
==1== Invalid read of size 4
==1==    at 0x1: f (a.c:1)
==1==
==1== LEAK SUMMARY:
==1==    definitely lost: 0 bytes in 0 blocks
EOF
    ['==1== Invalid read of size 4', '==1==    at 0x1: f (a.c:1)'],
    'valgrind_errors: the error and its stack, not the summary';

# ---------------------------------------------------------------------------
# The kafka mock driver, with a fake mock

{
    my $fake = "/tmp/pubsub-fake-mock.$$";
    write_file($fake, <<'EOF');
#!/usr/bin/perl
$| = 1;
my $junk = grep { $_ eq 'junk' } @ARGV;
print $junk ? "127.0.0.1:1 junk\n" : "127.0.0.1:1,127.0.0.1:2\n";
while (my $l = <STDIN>) {
    chomp $l;
    if ($l eq 'slow') { sleep 3; next }
    print $l =~ /^wm/ ? "ok 0 5\n" : "error unknown: $l\n";
}
EOF
    chmod 0755, $fake;
    my $mock = Test::PubSub::Mock->start(binary => $fake, timeout => 1,
        topics => ['t:2']);
    is $mock->brokers, '127.0.0.1:1,127.0.0.1:2', 'mock: bootstrap line';
    is $mock->cmd('wm t 0'), 'ok 0 5', 'mock: answer';
    is $mock->cmd('down 1'), 'error unknown: down 1', 'mock: error answer';
    ok !eval { $mock->cmd('slow'); 1 }, 'mock: no answer dies';
    is $mock->stop, '', 'mock: stops on stdin EOF or SIGTERM';
    ok !eval { Test::PubSub::Mock->start(binary => $fake, brokers => 'junk');
               1 }, 'mock: bad bootstrap line dies';
    unlink $fake;
}

# ---------------------------------------------------------------------------
# The WebSocket client against a small server in a child process.
#
# Paths: /ws answers pings with pongs (text "close" makes it send a close
# frame and hang up, text "half" sends half a frame and hangs up, text
# "quiet" makes it send nothing); /bad sends a wrong Sec-WebSocket-Accept;
# /forbidden answers 403.

sub serve {
    my ($c) = @_;
    my $buf = '';
    $buf .= $_ while $buf !~ /\r\n\r\n/ && sysread $c, $_, 4096;
    $buf =~ s/\A(.*?)\r\n\r\n//s or return;
    my $head = $1;
    my ($path) = $head =~ m{^GET (\S+)};
    my ($key) = $head =~ /^Sec-WebSocket-Key: (\S+)/mi;
    if ($path eq '/forbidden') {
        print $c "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope";
        return;
    }
    my $accept = ws_accept_key($path eq '/bad' ? 'x' : $key);
    print $c "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Accept: $accept\r\n\r\n";
    for (;;) {
        my ($f, $used) = ws_frame_parse($buf);
        unless ($f) {
            sysread $c, my $chunk, 4096 or return;
            $buf .= $chunk;
            next;
        }
        substr $buf, 0, $used, '';
        my $p = $f->{payload};
        if ($f->{opcode} == WS_TEXT) {
            return print $c ws_close(1000, 'bye', mask => 0) if $p eq 'close';
            return print $c substr ws_text('abcdef', mask => 0), 0, 4
                if $p eq 'half';
            next if $p eq 'quiet';
        }
        my $req = pb_req_decode($p);
        print $c ws_binary(pb_resp_encode({ sequence => $req->{sequence},
            pong_resp => { state => $req->{cmd_ping}{state} } }), mask => 0);
    }
}

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Listen => 5, ReuseAddr => 1) or die "listen: $!";
my $port = $listen->sockport;
my $server = fork // die "fork: $!";
unless ($server) {
    $SIG{$_} = sub { POSIX::_exit(0) } for qw(ALRM TERM);
    alarm 60;
    while (my $c = $listen->accept) {
        $c->autoflush(1);
        eval { serve($c) };
        close $c;
    }
    POSIX::_exit(0);
}
close $listen;

{
    my $ws = Test::PubSub::WS->connect(port => $port, timeout => 2);
    is $ws->{status}, 101, 'ws: 101';
    ok $ws->send(ws_binary(pb_req(sequence => 5, cmd_ping => { state => 's' }))
        . ws_binary(pb_req(sequence => -6, cmd_ping => {}))),
        'ws: send two frames';
    is_deeply [$ws->recv_lines(2)],
        ['seq=5 pong state="s"', 'seq=-6 pong state=""'], 'ws: recv_lines';
    $ws->send_req(sequence => 1, cmd_ping => { state => 'r' });
    is_deeply $ws->recv_resp, { sequence => 1, pong_resp => { state => 'r' } },
        'ws: send_req and recv_resp';
    $ws->send(ws_text('quiet'));
    my $t0 = time;
    is_deeply [$ws->recv_lines(3, 0.3)], ['timeout'], 'ws: timeout line';
    ok time - $t0 < 2, 'ws: the timeout argument is used';
    is $ws->recv_frame(0.1), undef, 'ws: recv_frame undef on timeout';
    $ws->send_frame('text', 'close');
    is_deeply [$ws->recv_lines(5)], ['close 1000', 'eof'],
        'ws: close frame then eof';
    is $ws->recv_frame, 'eof', 'ws: recv_frame gives eof again';
    $ws->close;
    ok $ws->is_closed, 'ws: closed';
}
{
    my $ws = Test::PubSub::WS->connect(port => $port, timeout => 2,
        extra => ws_binary(pb_req(sequence => 2, cmd_ping => {}))
                 . ws_text('half'));
    is_deeply [$ws->recv_lines(5)],
        ['seq=2 pong state=""', 'partial 81066162', 'eof'],
        'ws: pipelined frames, partial frame at eof';
}
ok !eval { Test::PubSub::WS->connect(port => $port, path => '/bad',
                                     timeout => 2); 1 },
    'ws: wrong Sec-WebSocket-Accept dies';
like $@, qr/Sec-WebSocket-Accept/, '... saying so';
ok !eval { Test::PubSub::WS->connect(port => $port, path => '/forbidden',
                                     timeout => 2); 1 },
    'ws: unexpected status dies';
like $@, qr/expected status 101, got 403/, '... saying so';
{
    my $ws = Test::PubSub::WS->connect(port => $port, path => '/forbidden',
        status => 403, timeout => 2);
    is $ws->{body}, 'nope', 'ws: expected non-101 status, body read';
}

kill 'TERM', $server;
waitpid $server, 0;

done_testing();
