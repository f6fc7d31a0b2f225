package Test::PubSub::HTTP;

# A minimal HTTP/1.x client for the plain (non-WebSocket) requests of the
# tests: build a request from a "--- request" section, send raw bytes, read
# the response until the connection closes (or the response is complete),
# and parse it.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

our @EXPORT_OK = qw(
    build_request http_request parse_response dechunk merge_headers
);

# Headers of @$defaults with @$extra applied: a header of the same name
# replaces the default one, "!Name" removes it, anything else is appended.
sub merge_headers {
    my ($defaults, $extra) = @_;
    my @headers = @$defaults;
    for my $h (@$extra) {
        next unless defined $h && $h =~ /\S/;
        if ($h =~ /^!\s*([^:\s]+)/) {
            my $name = $1;
            @headers = grep { !/^\Q$name\E\s*:/i } @headers;
            next;
        }
        my ($name) = $h =~ /^([^:\s]+)\s*:/;
        if (defined $name && grep { /^\Q$name\E\s*:/i } @$defaults) {
            @headers = grep { !/^\Q$name\E\s*:/i } @headers;
        }
        push @headers, $h;
    }
    return @headers;
}

# The bytes of a request from a "--- request" section: its first line is
# the request line ("GET /t" gets " HTTP/1.1" appended; one that names a
# protocol is used as is); the following lines, if any, are the body (one
# trailing newline removed) and get a Content-Length.  Host and
# "Connection: close" are added; @$more (Name: value lines) are applied as
# in merge_headers.
sub build_request {
    my ($text, $more) = @_;
    my ($line, $body) = split /\n/, $text, 2;
    $line = '' unless defined $line;
    $line =~ s/\r$//;
    $line =~ s/^\s+|\s+$//g;
    $line .= ' HTTP/1.1' unless $line =~ m{\sHTTP/\d};
    my @defaults = ('Host: localhost', 'Connection: close');
    if (defined $body && length $body) {
        $body =~ s/\n\z//;
        push @defaults, 'Content-Length: ' . length $body;
    }
    else {
        $body = '';
    }
    my @headers = merge_headers(\@defaults, $more || []);
    return "$line\r\n" . join('', map { "$_\r\n" } @headers) . "\r\n"
        . $body;
}

# Remove chunked transfer coding.  Returns ($body, $complete).
sub dechunk {
    my ($data) = @_;
    my $body = '';
    for (;;) {
        return ($body, 0) unless $data =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//;
        my $size = hex $1;
        if ($size == 0) {
            # trailer fields until an empty line
            return ($body, scalar $data =~ /(?:\A|\r\n)\r\n/);
        }
        return ($body . $data, 0) if length $data < $size + 2;
        $body .= substr $data, 0, $size;
        substr $data, 0, $size + 2, '';
    }
}

# Parse raw response bytes: a hash ref { status, reason, headers (lower-case
# name => [values]), body (de-chunked), raw, complete } or undef when no
# complete status line and header were received.
sub parse_response {
    my ($raw) = @_;
    return undef unless $raw =~ /\A(.*?)\r?\n\r?\n/s;
    my $head = $1;
    my $rest = substr $raw, $+[0];
    my @lines = split /\r?\n/, $head;
    my $status_line = shift @lines;
    return undef unless $status_line =~ m{^HTTP/\d\.\d\s+(\d{3})\s*(.*)$};
    my %r = (status => $1, reason => $2, raw => $raw, headers => {});
    for (@lines) {
        push @{ $r{headers}{ lc $1 } }, $2 if /^([^:]+?)\s*:\s*(.*?)\s*$/;
    }
    my $te  = $r{headers}{'transfer-encoding'};
    my $len = $r{headers}{'content-length'};
    if ($te && $te->[0] =~ /chunked/i) {
        @r{qw(body complete)} = dechunk($rest);
    }
    elsif ($len) {
        $r{body} = substr $rest, 0, $len->[0];
        $r{complete} = length $rest >= $len->[0];
    }
    else {
        $r{body} = $rest;
        $r{complete} = $r{status} == 204 || $r{status} == 304;
    }
    return \%r;
}

# http_request(port => P, request => BYTES, timeout => T): send the bytes
# on a new connection and read until the server closes it, the response is
# complete, or the timeout passes.  Returns the parse_response hash (plus
# eof and timed_out flags), or { error => TEXT, raw => BYTES } when nothing
# parseable came back.
sub http_request {
    my (%opt) = @_;
    my $timeout = $opt{timeout} // 5;
    my $deadline = time + $timeout;
    my $sock = IO::Socket::INET->new(
        PeerAddr => $opt{host} // '127.0.0.1',
        PeerPort => $opt{port},
        Proto    => 'tcp',
        Timeout  => $timeout,
    ) or return { error => "cannot connect: $@", raw => '' };
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);

    my $req = $opt{request};
    my $off = 0;
    while ($off < length $req) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_write($left);
        my $n = syswrite $sock, $req, length($req) - $off, $off;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            last;    # the server may have answered and closed already
        }
        $off += $n;
    }

    my ($raw, $eof, $timed_out) = ('', 0, 0);
    for (;;) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            $timed_out = 1;
            last;
        }
        my $n = sysread $sock, my $chunk, 65536;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $eof = 1;    # reset
            last;
        }
        if ($n == 0) {
            $eof = 1;
            last;
        }
        $raw .= $chunk;
        my $r = parse_response($raw);
        last if $r && $r->{complete};
    }
    close $sock;

    my $r = parse_response($raw);
    unless ($r) {
        my $why = $timed_out ? 'timeout' : 'connection closed';
        return { error => "no complete response ($why)", raw => $raw };
    }
    $r->{eof} = $eof;
    $r->{timed_out} = $timed_out;
    return $r;
}

1;
