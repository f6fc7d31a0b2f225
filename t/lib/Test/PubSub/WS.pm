package Test::PubSub::WS;

# WebSocket for the tests: a frame builder that can also produce broken
# frames, a frame parser, the one-line rendering of server frames, and a
# small client connection class (Test::PubSub::WS->connect).
#
# All payloads are byte strings.

use strict;
use warnings;

use Digest::SHA qw(sha1);
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

use Test::PubSub::HTTP qw(merge_headers);
use Test::PubSub::Proto qw(pb_req pb_resp_decode pb_resp_render quote_bytes);

our @EXPORT_OK = qw(
    ws_frame ws_binary ws_text ws_ping ws_pong ws_close ws_cont
    ws_frame_parse ws_render ws_accept_key
    WS_CONT WS_TEXT WS_BINARY WS_CLOSE WS_PING WS_PONG
);

use constant {
    WS_CONT   => 0x0,
    WS_TEXT   => 0x1,
    WS_BINARY => 0x2,
    WS_CLOSE  => 0x8,
    WS_PING   => 0x9,
    WS_PONG   => 0xa,
};

my %OPCODE_BY_NAME = (
    cont   => WS_CONT,
    text   => WS_TEXT,
    binary => WS_BINARY,
    close  => WS_CLOSE,
    ping   => WS_PING,
    pong   => WS_PONG,
);
my %NAME_BY_OPCODE = reverse %OPCODE_BY_NAME;

my $GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

# Make $s a byte string: characters above 255 are UTF-8 encoded.
sub _bytes {
    my ($s) = @_;
    $s = '' unless defined $s;
    utf8::encode($s) unless utf8::downgrade($s, 1);
    return $s;
}

# ---------------------------------------------------------------------------
# Frame builder

# ws_frame($opcode, $payload, %opt): the bytes of one frame.  $opcode is a
# number or a name (cont, text, binary, close, ping, pong).  Options:
#   fin => 0|1       FIN bit (default 1)
#   rsv => 0..7      RSV1..3 bits (RSV1 is 4)
#   mask => 0|1      mask the payload (default 1, as a client must)
#   mask_key => B    the 4 mask bytes (default random)
#   len16 => 1       use the 16-bit extended length even when not needed
#   len64 => 1       use the 64-bit extended length even when not needed
#   length => N      put N in the length field instead of the real length
sub ws_frame {
    my ($opcode, $payload, %opt) = @_;
    if ($opcode !~ /^\d+$/) {
        my $name = $opcode;
        $opcode = $OPCODE_BY_NAME{$name};
        die "ws_frame: unknown opcode '$name'\n" unless defined $opcode;
    }
    $payload = _bytes($payload);

    my $fin  = $opt{fin} // 1;
    my $mask = $opt{mask} // 1;
    my $len  = $opt{length} // length $payload;

    my $out = chr(($fin ? 0x80 : 0) | (($opt{rsv} // 0) & 7) << 4
                  | ($opcode & 0x0f));
    my $mask_bit = $mask ? 0x80 : 0;
    if ($opt{len64} || (!$opt{len16} && $len > 0xffff)) {
        $out .= chr($mask_bit | 127) . pack 'Q>', $len;
    }
    elsif ($opt{len16} || $len > 125) {
        $out .= chr($mask_bit | 126) . pack 'n', $len;
    }
    else {
        $out .= chr($mask_bit | $len);
    }

    if ($mask) {
        my $key = $opt{mask_key} // pack 'C4', map { int rand 256 } 1 .. 4;
        die "ws_frame: mask_key must be 4 bytes\n" unless length $key == 4;
        $out .= $key . _xor_mask($payload, $key);
    }
    else {
        $out .= $payload;
    }
    return $out;
}

sub _xor_mask {
    my ($data, $key) = @_;
    my $n = length $data;
    return '' unless $n;
    my $stream = substr $key x (int($n / 4) + 1), 0, $n;
    return $data ^ $stream;
}

sub ws_binary { my $p = shift; return ws_frame(WS_BINARY, $p, @_) }
sub ws_text   { my $p = shift; return ws_frame(WS_TEXT,   $p, @_) }
sub ws_ping   { my $p = shift; return ws_frame(WS_PING,   $p, @_) }
sub ws_pong   { my $p = shift; return ws_frame(WS_PONG,   $p, @_) }
sub ws_cont   { my $p = shift; return ws_frame(WS_CONT,   $p, @_) }

# ws_close($code, $reason, %opt): a close frame; no payload at all when
# $code is undef.
sub ws_close {
    my ($code, $reason, %opt) = @_;
    my $payload = defined $code ? pack('n', $code) . _bytes($reason) : '';
    return ws_frame(WS_CLOSE, $payload, %opt);
}

# ---------------------------------------------------------------------------
# Frame parser

# ws_frame_parse($bytes): parse the frame at the start of $bytes.  Returns
# ($frame, $consumed) or an empty list when $bytes holds no complete frame.
# $frame is { fin, rsv, opcode, masked, mask_key, length, payload } with the
# payload unmasked.
sub ws_frame_parse {
    my ($buf) = @_;
    my $have = length $buf;
    return () if $have < 2;

    my ($b0, $b1) = unpack 'C2', $buf;
    my %f = (
        fin    => $b0 >> 7,
        rsv    => ($b0 >> 4) & 7,
        opcode => $b0 & 0x0f,
        masked => $b1 >> 7,
    );
    my $len = $b1 & 0x7f;
    my $pos = 2;
    if ($len == 126) {
        return () if $have < $pos + 2;
        $len = unpack 'n', substr $buf, $pos, 2;
        $pos += 2;
    }
    elsif ($len == 127) {
        return () if $have < $pos + 8;
        $len = unpack 'Q>', substr $buf, $pos, 8;
        $pos += 8;
    }
    if ($f{masked}) {
        return () if $have < $pos + 4;
        $f{mask_key} = substr $buf, $pos, 4;
        $pos += 4;
    }
    return () if $have - $pos < $len;

    $f{length}  = $len;
    $f{payload} = substr $buf, $pos, $len;
    $f{payload} = _xor_mask($f{payload}, $f{mask_key}) if $f{masked};
    return (\%f, $pos + $len);
}

# ---------------------------------------------------------------------------
# Rendering

# ws_render($frame): one line for a parsed server frame.
#   seq=N pong state="..." | seq=N error code=C message="..." |
#   seq=N list_offset offset=O | seq=N fetch 14="v" 15[key]="v" |
#   seq=N none                       a binary frame holding a PubSubResp
#   binary HEX                       any other binary frame
#   text "..." | ping "..." | pong "..."
#   close CODE | close | close payload=HEX (1-byte payload)
#   cont HEX | opN HEX               continuation and unknown opcodes
# A frame with FIN clear, RSV bits or a mask (which a server must not send)
# gets a prefix such as "[fin=0 rsv=4 masked] "; its binary payload is then
# shown as HEX, never decoded.
sub ws_render {
    my ($f) = @_;
    my @flags;
    push @flags, 'fin=0'        unless $f->{fin};
    push @flags, "rsv=$f->{rsv}" if $f->{rsv};
    push @flags, 'masked'       if $f->{masked};
    my $prefix = @flags ? '[' . join(' ', @flags) . '] ' : '';

    my $op = $f->{opcode};
    my $p  = $f->{payload};
    my $line;
    if ($op == WS_BINARY) {
        $line = @flags ? 'binary ' . unpack('H*', $p) : pb_resp_render($p);
    }
    elsif ($op == WS_TEXT || $op == WS_PING || $op == WS_PONG) {
        $line = $NAME_BY_OPCODE{$op} . ' ' . quote_bytes($p);
    }
    elsif ($op == WS_CLOSE) {
        if (length $p >= 2) {
            $line = 'close ' . unpack 'n', $p;
        }
        elsif (length $p == 1) {
            $line = 'close payload=' . unpack 'H*', $p;
        }
        else {
            $line = 'close';
        }
    }
    elsif ($op == WS_CONT) {
        $line = 'cont ' . unpack 'H*', $p;
    }
    else {
        $line = "op$op " . unpack 'H*', $p;
    }
    return $prefix . $line;
}

# Sec-WebSocket-Accept for a Sec-WebSocket-Key.
sub ws_accept_key {
    my ($key) = @_;
    return encode_base64(sha1($key . $GUID), '');
}

# ---------------------------------------------------------------------------
# Client connection

# Test::PubSub::WS->connect(%opt): connect and do the opening handshake.
# Options:
#   port => P          (required) on 127.0.0.1 (or host => H)
#   path => '/ws'
#   headers => [...]   "Name: value" lines; a name that is also a default
#                      header (Host, Upgrade, Connection, Sec-WebSocket-Key,
#                      Sec-WebSocket-Version) replaces it; "!Name" removes it
#   timeout => 5       seconds, default for every read of this connection
#   extra => BYTES     sent in the same write right behind the handshake
#   status => 101      the status expected; dies when another comes back
#   tls => 1 | {...}   TLS (IO::Socket::SSL, Debian libio-socket-ssl-perl):
#                      1 without certificate verification, or a hash ref
#                      of IO::Socket::SSL options (SSL_ca_file, ...)
# For 101 it checks Sec-WebSocket-Accept and dies when wrong.  For another
# (expected) status the response body is read too.  Fields of the object:
# status, reason, headers (lower-case name => [values]), head (raw status
# line and headers), body, key.
sub connect {
    my ($class, %opt) = @_;
    my $port = $opt{port} or die "ws connect: no port\n";
    my $host = $opt{host} // '127.0.0.1';
    my $self = bless {
        timeout => $opt{timeout} // 5,
        buf     => '',
        eof     => 0,
    }, $class;

    my $key = encode_base64(pack('C16', map { int rand 256 } 1 .. 16), '');
    my @headers = merge_headers(
        [
            'Host: localhost',
            'Upgrade: websocket',
            'Connection: Upgrade',
            "Sec-WebSocket-Key: $key",
            'Sec-WebSocket-Version: 13',
        ],
        $opt{headers} || [],
    );
    for (@headers) {
        $self->{key} = $1 if /^Sec-WebSocket-Key:\s*(.*?)\s*$/i;
    }
    my $path = $opt{path} // '/ws';
    my $request = "GET $path HTTP/1.1\r\n"
        . join('', map { "$_\r\n" } @headers) . "\r\n";

    if ($opt{tls}) {
        require IO::Socket::SSL;
        my %ssl = ref $opt{tls} ? %{ $opt{tls} } : (SSL_verify_mode => 0);
        $self->{sock} = IO::Socket::SSL->new(
            PeerAddr => $host,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $self->{timeout},
            %ssl,
        ) or die "ws connect: cannot connect with TLS to $host:$port: "
                 . IO::Socket::SSL::errstr() . "\n";
    }
    else {
        $self->{sock} = IO::Socket::INET->new(
            PeerAddr => $host,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $self->{timeout},
        ) or die "ws connect: cannot connect to $host:$port: $@\n";
    }
    $self->{sock}->blocking(0);

    $self->send($request . _bytes($opt{extra}))
        or die "ws connect: cannot send the handshake: $self->{error}\n";

    my $deadline = time + $self->{timeout};
    until ($self->{buf} =~ /\r\n\r\n/) {
        die "ws connect: connection closed before the handshake response"
            . _show($self->{buf}) . "\n" if $self->{eof};
        die "ws connect: timeout waiting for the handshake response"
            . _show($self->{buf}) . "\n"
            unless $self->_fill($deadline - time);
    }
    $self->{buf} =~ s/\A(.*?\r\n)\r\n//s;
    $self->{head} = $1;
    @$self{qw(status reason headers)} = _parse_head($self->{head});
    die "ws connect: bad status line" . _show($self->{head}) . "\n"
        unless defined $self->{status};

    my $want = $opt{status} // 101;
    if ($self->{status} != $want) {
        die "ws connect: expected status $want, got $self->{status}"
            . _show($self->{head}) . "\n";
    }
    if ($self->{status} == 101) {
        my $accept = $self->header('Sec-WebSocket-Accept') // '(none)';
        my $expect = ws_accept_key($self->{key} // '');
        die "ws connect: Sec-WebSocket-Accept is $accept, want $expect\n"
            unless $accept eq $expect;
    }
    else {
        $self->{body} = $self->_read_body;
    }
    return $self;
}

# Status, reason and headers from a raw response head.
sub _parse_head {
    my ($head) = @_;
    my @lines = split /\r?\n/, $head;
    my $status_line = shift @lines // '';
    return () unless $status_line =~ m{^HTTP/\d\.\d\s+(\d{3})\s*(.*)$};
    my ($status, $reason) = ($1, $2);
    my %headers;
    for (@lines) {
        push @{ $headers{ lc $1 } }, $2 if /^([^:]+?)\s*:\s*(.*?)\s*$/;
    }
    return ($status, $reason, \%headers);
}

# " (got: ...)" for error messages.
sub _show {
    my ($bytes) = @_;
    return ' (got nothing)' unless length $bytes;
    $bytes = substr($bytes, 0, 300) . '...' if length $bytes > 300;
    return ' (got: ' . quote_bytes($bytes) . ')';
}

# Body of a non-101 handshake response: by Content-Length, else until EOF
# or timeout.
sub _read_body {
    my ($self) = @_;
    my $deadline = time + $self->{timeout};
    my $len = $self->header('Content-Length');
    while (!$self->{eof}) {
        last if defined $len && length $self->{buf} >= $len;
        last unless $self->_fill($deadline - time);
    }
    return substr $self->{buf}, 0, (defined $len ? $len : length $self->{buf}),
        '';
}

# First value of a response header of the handshake (case-insensitive).
sub header {
    my ($self, $name) = @_;
    my $v = $self->{headers}{ lc $name };
    return $v ? $v->[0] : undef;
}

sub sock { $_[0]{sock} }

# Read once (waiting up to $timeout seconds) into the buffer.  Returns true
# when bytes arrived or EOF was seen, false on timeout.
sub _fill {
    my ($self, $timeout) = @_;
    return 1 if $self->{eof};
    $timeout = 0 if $timeout < 0;
    my $sel = IO::Select->new($self->{sock});
    my $deadline = time + $timeout;
    # TLS: decrypted bytes may wait in the library, not in the socket
    my $tls = $self->{sock}->can('pending');
    for (;;) {
        my $left = $deadline - time;
        return 0 unless ($tls && $self->{sock}->pending)
            || $sel->can_read($left > 0 ? $left : 0);
        my $n = sysread $self->{sock}, my $chunk, 65536;
        if (defined $n) {
            if ($n == 0) {
                $self->{eof} = 1;
            }
            else {
                $self->{buf} .= $chunk;
            }
            return 1;
        }
        next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        # a reset counts as the end of the connection
        $self->{error} = "$!";
        $self->{eof} = 1;
        return 1;
    }
}

# send($bytes): write all of $bytes, waiting up to the connection timeout
# for the socket to drain.  Returns true when all was written; false (with
# $ws->{error} set) when the peer closed or the timeout passed.
sub send {
    my ($self, $bytes) = @_;
    $bytes = _bytes($bytes);
    my $sel = IO::Select->new($self->{sock});
    my $deadline = time + $self->{timeout};
    my $off = 0;
    while ($off < length $bytes) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_write($left)) {
            $self->{error} = 'timeout while sending';
            return 0;
        }
        my $n = syswrite $self->{sock}, $bytes, length($bytes) - $off, $off;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $self->{error} = "$!";
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# send_frame(...): send(ws_frame(...)).
sub send_frame {
    my $self = shift;
    return $self->send(ws_frame(@_));
}

# send_req(%pb_req): one binary frame holding pb_req(%pb_req).
sub send_req {
    my $self = shift;
    return $self->send(ws_binary(pb_req(@_)));
}

# recv_frame($timeout): the next server frame as a hash ref (see
# ws_frame_parse), undef on timeout, or the string 'eof' once the server
# closed the TCP connection (bytes of an incomplete frame then stay in
# $ws->{buf}).
sub recv_frame {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    for (;;) {
        my ($frame, $used) = ws_frame_parse($self->{buf});
        if ($frame) {
            substr $self->{buf}, 0, $used, '';
            return $frame;
        }
        return 'eof' if $self->{eof};
        return undef unless $self->_fill($deadline - time);
    }
}

# recv_line($timeout): the next frame rendered as one line (ws_render), or
# "timeout", or "eof"; bytes of an incomplete frame left at EOF give a line
# "partial HEX" before "eof".
sub recv_line {
    my ($self, $timeout) = @_;
    my $f = $self->recv_frame($timeout);
    return 'timeout' unless defined $f;
    return ws_render($f) if ref $f;
    if (length $self->{buf}) {
        my $hex = unpack 'H*', $self->{buf};
        $self->{buf} = '';
        return "partial $hex";
    }
    return 'eof';
}

# recv_lines($n, $timeout): up to $n lines as recv_line gives them; stops
# early after "eof" or "timeout" (each read waits up to $timeout).
sub recv_lines {
    my ($self, $n, $timeout) = @_;
    my @lines;
    while (@lines < $n) {
        my $line = $self->recv_line($timeout);
        push @lines, $line;
        last if $line eq 'eof' || $line eq 'timeout';
    }
    return @lines;
}

# recv_resp($timeout): the next frame decoded as a PubSubResp hash ref (see
# pb_resp_decode); dies when it is anything else.
sub recv_resp {
    my ($self, $timeout) = @_;
    my $f = $self->recv_frame($timeout);
    die "recv_resp: timeout\n" unless defined $f;
    die "recv_resp: eof\n" unless ref $f;
    my $r;
    $r = pb_resp_decode($f->{payload})
        if $f->{opcode} == WS_BINARY && $f->{fin} && !$f->{rsv};
    die 'recv_resp: got ' . ws_render($f) . "\n" unless $r;
    return $r;
}

# Half-close: no more data from us, but still read.
sub shutdown_write {
    my ($self) = @_;
    shutdown $self->{sock}, 1 if $self->{sock};
}

sub close {
    my ($self) = @_;
    if (my $sock = delete $self->{sock}) {
        CORE::close $sock;
    }
}

sub is_closed { !$_[0]{sock} }

1;
