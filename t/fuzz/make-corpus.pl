#!/usr/bin/perl

# Seeds the fuzz corpora, t/fuzz/corpus/<target>/, from the suite's own
# frames: every "--- ws_request eval" section of t/*.t is evaluated with
# the harness's builders (t/lib/Test/PubSub/WS.pm and Proto.pm) and what
# it sends becomes a seed of each target, in that target's input format
# (see the head of t/unit/fuzz_<target>.c); the handshakes of blocks with
# "--- more_headers" become requests of the connection target; a
# hand-made set adds every command of proto/pubsub.proto in each of the
# fake backend's answer modes, flow control, timers, faults and the
# worker's exit, and records for the codec.  The same run writes the same
# files (srand 1).
#
#   perl t/fuzz/make-corpus.pl        # rewrites t/fuzz/corpus/

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Path qw(make_path remove_tree);

use Test::PubSub::HTTP qw(merge_headers);
use Test::PubSub::Proto ();
use Test::PubSub::WS ();

my $T   = "$FindBin::Bin/..";
my $OUT = "$FindBin::Bin/corpus";

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

# the package the test files' eval sections run in
{
    package Test::PubSub::Corpus;
    Test::PubSub::WS->import(@Test::PubSub::WS::EXPORT_OK);
    Test::PubSub::Proto->import(@Test::PubSub::Proto::EXPORT_OK);
}

BEGIN {
    *ws_binary      = \&Test::PubSub::WS::ws_binary;
    *ws_frame       = \&Test::PubSub::WS::ws_frame;
    *ws_ping        = \&Test::PubSub::WS::ws_ping;
    *ws_pong        = \&Test::PubSub::WS::ws_pong;
    *ws_text        = \&Test::PubSub::WS::ws_text;
    *ws_cont        = \&Test::PubSub::WS::ws_cont;
    *ws_close       = \&Test::PubSub::WS::ws_close;
    *ws_frame_parse = \&Test::PubSub::WS::ws_frame_parse;
    *pb_req         = \&Test::PubSub::Proto::pb_req;
    *pb_field       = \&Test::PubSub::Proto::pb_field;
}

srand 1;

my %files;      # target => { name => bytes }
my %seen;       # target => { bytes => 1 }

sub seed {
    my ($target, $name, $bytes) = @_;
    return if $seen{$target}{$bytes}++;
    $name =~ s/[^\w.-]+/-/g;
    my $n = $name;
    my $i = 1;
    $n = $name . '-' . ++$i while exists $files{$target}{$n};
    $files{$target}{$n} = $bytes;
}

# ---------------------------------------------------------------------------
# the connection target's script (t/unit/fuzz_connection.c)

sub op_data {
    my ($bytes, $step) = @_;
    my $out = '';
    while (length $bytes) {
        my $chunk = substr $bytes, 0, 60000, '';
        my $op = defined $step ? 0xe0 : 0x00;
        my $len = length $chunk;
        $out .= $len < 31 ? chr($op | $len) : chr($op | 31) . pack('n', $len);
        $out .= chr(($step - 1) & 0x0f) if defined $step;
        $out .= $chunk;
    }
    return $out;
}

sub op_events  { chr(0x20 | $_[0]) }
sub op_window  { chr(0x40 | $_[0]) }
sub op_time    { chr(0x60 | $_[0]) }
sub op_backend { chr(0x80 | $_[0]) }
sub op_socket  { chr(0xa0 | $_[0]) }
sub op_quit    { chr(0xc0) }

# conn(cfg0 => N, cfg1 => N, alloc => N, request => TEXT, pipelined => B,
#      ops => B)
sub conn {
    my (%o) = @_;
    my $cfg0 = $o{cfg0} // 0;
    my $cfg1 = $o{cfg1} // 0;
    $cfg0 |= 3    if defined $o{request};
    $cfg0 |= 0x80 if defined $o{pipelined};
    my $s = chr($cfg0) . chr($cfg1);
    $s .= chr($o{alloc} - 1) if ($cfg1 >> 4) == 12;
    $s .= pack('n', length $o{request}) . $o{request} if defined $o{request};
    $s .= chr(length $o{pipelined}) . $o{pipelined} if defined $o{pipelined};
    return $s . ($o{ops} // '');
}

sub handshake {
    my (@more) = @_;
    my @headers = merge_headers([
        'Host: localhost',
        'Upgrade: websocket',
        'Connection: Upgrade',
        "Sec-WebSocket-Key: $KEY",
        'Sec-WebSocket-Version: 13',
    ], \@more);
    return "GET /ws HTTP/1.1\r\n" . join('', map { "$_\r\n" } @headers)
           . "\r\n";
}

# a frame as the client sends it: masked with a mask of zeros, so the
# seed's bytes read as they are
sub cf {
    my ($opcode, $payload, %opt) = @_;
    return ws_frame($opcode, $payload, mask_key => "\0\0\0\0", %opt);
}

sub req { cf('binary', pb_req(@_)) }

# ---------------------------------------------------------------------------
# the suite's frames

my @blocks;

for my $file (sort glob "$T/*.t") {
    my ($base) = $file =~ m{([^/]+)\.t$};
    open my $fh, '<', $file or die "$file: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    my ($data) = $text =~ /^__DATA__\n(.*)/ms or next;

    my $n = 0;
    for my $block (split /^(?====\s*TEST)/m, $data) {
        next unless $block =~ /^===/;
        $n++;
        my %sec;
        my $cur;
        for my $line (split /\n/, $block) {
            if ($line =~ /^--- (\w+)(?: (eval))?(?::\s*(.*))?$/) {
                $cur = $1;
                $sec{$cur} = defined $3 ? $3 : '';
                next;
            }
            $sec{$cur} .= "$line\n" if defined $cur;
        }
        push @blocks, { name => sprintf('%s-%02d', $base, $n), %sec };
    }
}

my $evaluated = 0;

for my $b (@blocks) {
    my @more = grep { /\S/ } split /\n/, $b->{more_headers} // '';
    s/\s+$// for @more;

    # handshakes: a WebSocket block's, or a plain request's headers
    if (@more || defined $b->{request}) {
        my $request;
        if (defined $b->{ws_request} || defined $b->{ws_code}
            || defined $b->{ws_handshake_status})
        {
            $request = handshake(@more);
        }
        else {
            my ($line) = ($b->{request} // 'GET /ws') =~ /^(.*)$/m;
            $line .= ' HTTP/1.1' unless $line =~ m{ HTTP/};
            $request = "$line\r\nHost: localhost\r\n"
                       . join('', map { "$_\r\n" } @more) . "\r\n";
        }
        seed('connection', "$b->{name}-handshake",
             conn(request => $request,
                  ops => op_data(req(sequence => 1,
                                     cmd_ping => { state => 'h' }))));
    }

    next unless defined $b->{ws_request};

    my @frames = eval {
        package Test::PubSub::Corpus;
        no strict 'vars';
        local $SIG{__WARN__} = sub { };
        my $r = eval $b->{ws_request};
        die $@ if $@;
        ref $r eq 'ARRAY' ? @$r : ($r);
    };
    next if $@ || !@frames;
    $evaluated++;

    my $stream = join '', grep { defined } @frames;

    # the frame parser: all, in small and odd chunks, by the input's sizes
    my $variant = $evaluated % 4;
    seed('frame', "$b->{name}",
         chr((0x60, 0x62, 0x70, 0x0f)[$variant]) . $stream);

    # the request decoder: each binary message, unmasked and reassembled
    my ($buf, $msg, $k) = ($stream, undef, 0);
    while (my ($f, $used) = ws_frame_parse($buf)) {
        substr $buf, 0, $used, '';
        if ($f->{opcode} == 2) {
            $msg = $f->{payload};
        }
        elsif ($f->{opcode} == 0 && defined $msg) {
            $msg .= $f->{payload};
        }
        else {
            next;
        }
        if ($f->{fin}) {
            # a few of each block: floods repeat themselves
            seed('request', "$b->{name}-" . $k++, $msg) if $k < 2;
            undef $msg;
        }
    }

    # the connection: the frames as the block sends them, then a close
    my $ops = join '', map { op_data($_) } grep { defined } @frames;
    if (defined $b->{ws_pipeline} && length $stream < 256) {
        seed('connection', "$b->{name}-pipelined",
             conn(pipelined => $stream, ops => op_time(20)));
    }
    seed('connection', $b->{name}, conn(ops => $ops . op_time(20)));
}

die "no ws_request section evaluated: is t/lib there?\n" unless $evaluated;

# ---------------------------------------------------------------------------
# every command, in every answer mode (the sequence's low 3 bits, see
# t/unit/fake_backend.c)

my %cmd = (
    ping        => [cmd_ping => { state => 'abc' }],
    fetch       => [cmd_kafka_fetch =>
                    { topic => 'demo', partition => 1, offset => 42 }],
    list_offset => [cmd_kafka_list_offset =>
                    { topic => 'demo', partition => 2, timestamp => -1 }],
    subscribe   => [cmd_kafka_subscribe => {
                        topic => 'demo',
                        partitions => [{ partition => 0, offset => 5 },
                                       { partition => 2, offset => -2 }],
                        group => 'g',
                        filter => { key => 'k',
                                    headers => [{ key => 'h',
                                                  value => 'v' }] },
                    }],
    produce     => [cmd_kafka_produce => {
                        topic => 'demo', partition => 1, key => 'k',
                        value => 'hello', timestamp => 1700000000000,
                        headers => [{ key => 'h', value => 'v' }],
                    }],
    commit      => [cmd_kafka_commit => {
                        group => 'g', topic => 'demo',
                        offsets => [{ partition => 0, offset => 7 }],
                    }],
    committed   => [cmd_kafka_committed =>
                    { group => 'g', topic => 'demo',
                      partitions => [0, 1, 2] }],
    empty       => [cmd_empty => {}],
);

for my $name (sort keys %cmd) {
    my ($field, $value) = @{ $cmd{$name} };
    my $ops = '';
    for my $mode (0 .. 7) {
        my $seq = $mode + 8 * (3 + $mode);
        my $bytes = pb_req(sequence => $seq, $field => $value);
        $ops .= op_data(cf('binary', $bytes));
        seed('request', "$name-mode$mode", $bytes) if $mode < 2;
    }
    # answers later: timers, then the backend's own events
    $ops .= op_time(5) . op_time(15) . op_backend(0) . op_backend(9)
            . op_backend(6) . op_time(17);
    seed('connection', "cmd-$name-modes", conn(ops => $ops));
    seed('connection', "cmd-$name-modes-windowed",
         conn(cfg0 => 0x20, cfg1 => 0x04,
              ops => op_window(20) . $ops . op_window(31) . op_window(0)));
}

# the extension's stream: subscribe with a window, credit, unsubscribe

for my $window (0, 3) {
    my $sub = { %{ $cmd{subscribe}[1] }, window => $window };
    my $seq = 3 + 8 * 12;        # mode 3: stream, budget 12
    my $ops = op_data(req(sequence => $seq, cmd_kafka_subscribe => $sub))
        . op_time(3) . op_time(3)
        . op_data(req(sequence => 2, cmd_kafka_credit =>
                      { subscription => $seq, messages => 4 }))
        . op_time(3)
        . op_data(req(sequence => 3, cmd_kafka_credit =>
                      { subscription => $seq, messages => -1 }))
        . op_backend(2) . op_backend(7)
        . op_data(req(sequence => 4, cmd_kafka_unsubscribe =>
                      { subscription => $seq }))
        . op_data(req(sequence => 5, cmd_kafka_unsubscribe =>
                      { subscription => 999 }))
        . op_time(20);
    seed('connection', "stream-window$window", conn(ops => $ops));
    seed('connection', "stream-window$window-slow-reader",
         conn(cfg0 => 0x20, cfg1 => 0x04,
              ops => op_window(8) . $ops . op_window(10) . op_time(2)
                     . op_window(0)));
}

# two streams pushed from the read handler (mode 5), ended by the backend
# and by the server's close
seed('connection', 'streams-end',
     conn(ops => op_data(req(sequence => 5 + 8 * 31,
                             cmd_kafka_subscribe => { topic => 'a' }))
                 . op_data(req(sequence => 5 + 8 * 20,
                               cmd_kafka_subscribe => { topic => 'b' }))
                 . op_backend(3) . op_backend(4 + 8 * 3) . op_time(20)));

# ---------------------------------------------------------------------------
# the WebSocket layer: fragments, control frames, limits, flow, timers

my $big = pb_req(sequence => 1, cmd_ping => { state => 'x' x 1000 });

seed('connection', 'fragments',
     conn(ops => op_data(cf('binary', substr($big, 0, 10), fin => 0))
                 . op_data(cf('ping', 'in between'))
                 . op_data(cf('cont', substr($big, 10, 500), fin => 0))
                 . op_data(cf('cont', substr($big, 510)))
                 . op_data(cf('text', 'ignored'))
                 . op_data(cf('close', pack('n', 1000) . 'bye'))));
seed('connection', 'fragments-pieces',
     conn(ops => op_data(cf('binary', substr($big, 0, 300), fin => 0)
                         . cf('cont', substr($big, 300)), 3)
                 . op_data(cf('close', ''), 1)));
seed('connection', 'too-big',
     conn(cfg1 => 0x02, ops => op_data(cf('binary', $big))));
seed('connection', 'default-limits',
     conn(cfg1 => 0x03, ops => op_data(cf('binary', $big))));
seed('connection', 'queue-size-refused',
     conn(cfg1 => 0x0c, ops => op_data(cf('binary', $big))));
seed('connection', 'limit-16',
     conn(cfg1 => 0x01,
          ops => op_data(req(sequence => 1, cmd_ping => { state => 'ab' }))
                 . op_data(req(sequence => 2, cmd_ping => { state => 'x' x 20 }))));
seed('connection', 'output-queue-full',
     conn(cfg0 => 0x20, cfg1 => 0x04,
          ops => join('', map { op_data(cf('binary', $big)) } 1 .. 4)
                 . op_window(5) . op_time(20)));
seed('connection', 'output-queue-drain',
     conn(cfg0 => 0x20, cfg1 => 0x08,
          ops => op_window(3)
                 . join('', map { op_data(cf('binary', $big)) } 1 .. 3)
                 . op_window(15) . op_window(31) . op_window(31)
                 . op_window(0)));
seed('connection', 'ping-idle-expire',
     conn(cfg0 => 0x1c,
          ops => op_time(16) . op_data(cf('pong', '')) . op_time(17)
                 . op_time(18) . op_time(31)));
seed('connection', 'send-timeout',
     conn(cfg0 => 0x20, ops => op_window(2) . op_data(cf('binary', $big))
                               . op_time(31) . op_time(31) . op_time(31)
                               . op_time(31)));
seed('connection', 'lingering',
     conn(ops => op_data(cf('close', pack('n', 4000))) . op_data('late')
                 . op_time(5) . op_events(4)));
seed('connection', 'client-eof',
     conn(ops => op_data(req(sequence => 4, cmd_ping => {})) . op_events(4)));
seed('connection', 'client-rst',
     conn(ops => op_data(req(sequence => 4, cmd_ping => {})) . op_events(8)));
seed('connection', 'send-error',
     conn(ops => op_socket(0) . op_data(req(sequence => 4, cmd_ping => {}))));
seed('connection', 'spurious',
     conn(cfg0 => 0x20, ops => op_events(3) . op_window(1) . op_events(3)
                               . op_data(req(sequence => 1, cmd_ping => {}))
                               . op_events(2) . op_window(0)));
seed('connection', 'quit-with-commands',
     conn(ops => op_data(req(sequence => 4 + 8 * 2, cmd_kafka_produce =>
                             $cmd{produce}[1]))
                 . op_data(req(sequence => 3 + 8 * 30, cmd_kafka_subscribe =>
                               { topic => 'demo' }))
                 . op_quit() . op_data(req(sequence => 1, cmd_ping => {}))));
seed('connection', 'max-inflight',
     conn(cfg0 => 0x40,
          ops => join('', map {
                     op_data(req(sequence => 5 + 8 * $_,
                                 cmd_kafka_list_offset => { topic => 't' }))
                 } 1 .. 4) . op_time(31)));
seed('connection', 'strings',
     conn(ops => op_data(req(sequence => 1, cmd_kafka_fetch =>
                             { topic => "bad\xff" }))
                 . op_data(req(sequence => 2, cmd_kafka_fetch =>
                               { topic => "nul\0" }))
                 . op_data(req(sequence => 3, cmd_ping => { state => "\xff" }))
                 . op_data(cf('binary', "\xff\xff\xff"))
                 . op_data(req(sequence => 9))));
seed('connection', 'reads-in-a-row',
     conn(ops => op_data(join('', map { req(sequence => 8 * $_,
                                           cmd_ping => { state => 'r' }) }
                              1 .. 12), 4)));

# handshakes: what nginx hands the handler, good and bad

for my $h (['version 8', 'Sec-WebSocket-Version: 8'],
           ['no version', '!Sec-WebSocket-Version'],
           ['no key', '!Sec-WebSocket-Key'],
           ['short key', 'Sec-WebSocket-Key: dGhl'],
           ['bad key', 'Sec-WebSocket-Key: !GhlIHNhbXBsZSBub25jZQ=='],
           ['no upgrade', '!Upgrade'],
           ['body', 'Content-Length: 5'],
           ['chunked', 'Transfer-Encoding: chunked'],
           ['two keys', "Sec-WebSocket-Key: $KEY", "X: y"])
{
    my ($name, @more) = @$h;
    my $request = handshake(@more);
    $request =~ s/\r\n\r\n$/\r\nSec-WebSocket-Key: $KEY\r\n\r\n/
        if $name eq 'two keys';
    seed('connection', "handshake-$name", conn(request => $request));
}

for my $line ('POST /ws HTTP/1.1', 'GET /ws HTTP/1.0', 'GET /ws HTTP/2.0',
              'GET /sub HTTP/1.1')
{
    my $request = handshake();
    $request =~ s/^[^\r]*/$line/;
    seed('connection', "request-line-$line", conn(request => $request));
}

# faults: the worker exiting already, send_header(), TCP_NODELAY, events,
# the n-th allocation

my $ping = req(sequence => 3, cmd_ping => { state => 'f' });
my $scenario = op_data($ping)
    . op_data(req(sequence => 4 + 8, cmd_kafka_fetch => { topic => 'f' }))
    . op_data(req(sequence => 5 + 8 * 9, cmd_kafka_subscribe =>
                  { topic => 'f' }))
    . op_time(3) . op_data(cf('binary', substr($big, 0, 200), fin => 0))
    . op_data(cf('cont', substr($big, 200))) . op_backend(0);

for my $fault (8 .. 11, 13 .. 15) {
    seed('connection', "fault-$fault",
         conn(cfg0 => 0x04, cfg1 => $fault << 4, ops => $scenario));
}

for my $n (1, 2, 3, 5, 8, 11, 14, 17, 20, 24, 28, 33, 40) {
    seed('connection', "alloc-fails-$n",
         conn(cfg1 => 12 << 4, alloc => $n, ops => $scenario));
}

# ---------------------------------------------------------------------------
# requests the suite does not send: every field, unknown fields, oddities

my %extra = (
    'subscribe-all' => pb_req(sequence => 7, cmd_kafka_subscribe => {
        topic => 'demo', all_partitions => 1, start => -2, window => 4 }),
    'produce-no-partition' => pb_req(sequence => 8, cmd_kafka_produce => {
        topic => 'demo', value => 'v' }),
    'unknown-fields' => pb_req(sequence => 9, cmd_ping => { state => 's' },
        _raw => pb_field(77, varint => 1) . pb_field(78, bytes => 'x')
                . pb_field(79, fixed32 => 5) . pb_field(80, fixed64 => 6)),
    'no-command' => pb_req(sequence => 10),
    'empty' => '',
    'negative-sequence' => pb_req(sequence => -3, cmd_ping => {}),
    'utf8' => pb_req(sequence => 11, cmd_kafka_fetch =>
                     { topic => "\x{263a}\x{1F600}" }),
    'two-commands' => pb_req(sequence => 12, cmd_ping => {},
                             cmd_kafka_fetch => { topic => 't' }),
    'deep-filter' => pb_req(sequence => 13, cmd_kafka_subscribe => {
        topic => 't', filter => { headers => [ map { { key => "k$_",
                                                       value => 'v' } }
                                               1 .. 5 ] } }),
);

seed('request', $_, $extra{$_}) for sort keys %extra;

# ---------------------------------------------------------------------------
# records (t/unit/fuzz_record.c)

sub rec {
    my (%r) = @_;
    my $which = (defined $r{offset} ? 1 : 0) | (defined $r{timestamp} ? 2 : 0)
                | (defined $r{partition} ? 4 : 0);
    my $s = chr($which);
    $s .= pack('q>', $r{offset})    if $which & 1;
    $s .= pack('q>', $r{timestamp}) if $which & 2;
    $s .= pack('l>', $r{partition}) if $which & 4;
    my $key = $r{key} // '';
    my $value = $r{value} // '';
    $s .= chr(length $key) . $key . pack('n', length $value) . $value;
    my @h = @{ $r{headers} || [] };
    $s .= chr(scalar @h);
    $s .= chr(length $_->[0]) . $_->[0] . chr(length $_->[1]) . $_->[1]
        for @h;
    return $s;
}

sub records {
    my ($seq, @recs) = @_;
    return pack('q>', $seq) . chr(@recs - 1) . join('', @recs);
}

seed('record', 'one', records(7, rec(offset => 14, key => 'k',
                                     value => 'testmsg15')));
seed('record', 'empty', records(0, rec()));
seed('record', 'negative', records(-1, rec(offset => -1, timestamp => -1,
                                           partition => -2)));
seed('record', 'headers', records(3, rec(offset => 1, timestamp => 1700000000000,
    partition => 2, key => 'key', value => 'value',
    headers => [['h1', 'v1'], ['', 'no key'], ['no value', '']]))
    . "\x0a\x05\x0a\x01a\x12\x00\x0a\x02\x0a\x00");
seed('record', 'four', records(1 << 40, map {
    rec(offset => $_, key => "k$_", value => 'v' x (40 * $_),
        headers => [['h', "$_"]]) } 1 .. 4));
seed('record', 'large', records(5, rec(offset => 1, value => 'x' x 300),
                                rec(value => 'y' x 2000)));
seed('record', 'varints', records(2, rec(offset => 1))
    . pack('q>', -1) . pack('q>', 127) . pack('q>', 1 << 35));

# ---------------------------------------------------------------------------

remove_tree($OUT);

my $total = 0;
for my $target (sort keys %files) {
    make_path("$OUT/$target");
    for my $name (sort keys %{ $files{$target} }) {
        open my $fh, '>:raw', "$OUT/$target/$name" or die "$name: $!";
        print $fh $files{$target}{$name};
        close $fh;
        $total++;
    }
    printf "%-12s %3d files\n", $target, scalar keys %{ $files{$target} };
}
printf "%-12s %3d files\n", 'all', $total;
