package Test::PubSub::Proto;

# A hand-written protobuf codec for the messages of proto/pubsub.proto,
# enough for the tests: proto3 encoding of requests (and responses, for
# round trips), a strict decoder, and the one-line rendering of responses
# that the test files compare.
#
# Values are Perl scalars: int32/int64 as (64-bit) integers, bytes/string as
# byte strings, sub-messages as hash refs, repeated fields as array refs.

use strict;
use warnings;

use Exporter 'import';

our @EXPORT_OK = qw(
    pb_req pb_req_encode pb_req_decode pb_resp_encode pb_resp_decode
    pb_resp_render pb_encode pb_decode pb_varint pb_key pb_field
    quote_bytes escape_bytes
);

# Wire types.
use constant {
    WT_VARINT => 0,
    WT_I64    => 1,
    WT_LEN    => 2,
    WT_SGROUP => 3,
    WT_EGROUP => 4,
    WT_I32    => 5,
};

# The schema: for each message its fields as
# [number, name, type, options]; type is int32, int64, bool, bytes, string
# or a message name; options: oneof => NAME, repeated => 1 (repeated
# int32 is packed, as proto3 does).
my %SCHEMA = (
    CmdPing => [
        [1, 'state', 'bytes'],
    ],
    CmdEmpty => [],
    CmdKafkaListOffset => [
        [1, 'topic',     'string'],
        [2, 'partition', 'int32'],
        [3, 'timestamp', 'int64'],
    ],
    CmdKafkaFetch => [
        [1, 'topic',     'string'],
        [2, 'partition', 'int32'],
        [3, 'offset',    'int64'],
    ],
    PubSubReq => [
        [1,  'sequence',              'int64'],
        [31, 'cmd_empty',             'CmdEmpty',           oneof => 'req'],
        [32, 'cmd_ping',              'CmdPing',            oneof => 'req'],
        [33, 'cmd_kafka_fetch',       'CmdKafkaFetch',      oneof => 'req'],
        [34, 'cmd_kafka_list_offset', 'CmdKafkaListOffset', oneof => 'req'],
        [101, 'cmd_kafka_subscribe',   'CmdKafkaSubscribe',  oneof => 'req'],
        [102, 'cmd_kafka_unsubscribe', 'CmdKafkaUnsubscribe',
                                                          oneof => 'req'],
        [103, 'cmd_kafka_credit',      'CmdKafkaCredit',     oneof => 'req'],
        [104, 'cmd_kafka_produce',     'CmdKafkaProduce',    oneof => 'req'],
        [105, 'cmd_kafka_commit',      'CmdKafkaCommit',     oneof => 'req'],
        [106, 'cmd_kafka_committed',   'CmdKafkaCommitted',  oneof => 'req'],
    ],
    ErrorResp => [
        [1, 'code',    'int32'],
        [2, 'message', 'string'],
    ],
    PongResp => [
        [1, 'state', 'bytes'],
    ],
    KafkaHeader => [
        [1, 'key',   'string'],
        [2, 'value', 'bytes'],
    ],
    KafkaMessage => [
        [1, 'offset',    'int64'],
        [2, 'timestamp', 'int64'],
        [3, 'key',       'bytes'],
        [4, 'value',     'bytes'],
        [5, 'headers',   'KafkaHeader', repeated => 1],
        [6, 'partition', 'int32'],
    ],
    KafkaPartitionOffset => [
        [1, 'partition', 'int32'],
        [2, 'offset',    'int64'],
    ],
    KafkaFilter => [
        [1, 'key',     'bytes'],
        [2, 'headers', 'KafkaHeader', repeated => 1],
    ],
    CmdKafkaSubscribe => [
        [1, 'topic',          'string'],
        [2, 'partitions',     'KafkaPartitionOffset', repeated => 1],
        [3, 'all_partitions', 'bool'],
        [4, 'start',          'int64'],
        [5, 'group',          'string'],
        [6, 'filter',         'KafkaFilter'],
        [7, 'window',         'int32'],
    ],
    CmdKafkaUnsubscribe => [
        [1, 'subscription', 'int64'],
    ],
    CmdKafkaCredit => [
        [1, 'subscription', 'int64'],
        [2, 'messages',     'int32'],
    ],
    CmdKafkaProduce => [
        [1, 'topic',     'string'],
        [2, 'partition', 'int32', oneof => 'target'],
        [3, 'key',       'bytes'],
        [4, 'value',     'bytes'],
        [5, 'headers',   'KafkaHeader', repeated => 1],
        [6, 'timestamp', 'int64'],
    ],
    CmdKafkaCommit => [
        [1, 'group',   'string'],
        [2, 'topic',   'string'],
        [3, 'offsets', 'KafkaPartitionOffset', repeated => 1],
    ],
    CmdKafkaCommitted => [
        [1, 'group',      'string'],
        [2, 'topic',      'string'],
        [3, 'partitions', 'int32', repeated => 1],
    ],
    KafkaSubscribeResp => [
        [1, 'positions', 'KafkaPartitionOffset', repeated => 1],
        [2, 'ended',     'bool'],
    ],
    KafkaProduceResp => [
        [1, 'partition', 'int32'],
        [2, 'offset',    'int64'],
        [3, 'timestamp', 'int64'],
    ],
    KafkaCommitResp => [],
    KafkaCommittedResp => [
        [1, 'offsets', 'KafkaPartitionOffset', repeated => 1],
    ],
    KafkaFetchResp => [
        [1, 'messages', 'KafkaMessage', repeated => 1],
    ],
    KafkaListOffsetResp => [
        [1, 'offset', 'int64'],
    ],
    PubSubResp => [
        [1,  'sequence',               'int64'],
        [31, 'error_resp',             'ErrorResp',      oneof => 'resp'],
        [32, 'pong_resp',              'PongResp',       oneof => 'resp'],
        [33, 'kafka_fetch_resp',       'KafkaFetchResp', oneof => 'resp'],
        [34, 'kafka_list_offset_resp', 'KafkaListOffsetResp',
                                                         oneof => 'resp'],
        [101, 'kafka_subscribe_resp',  'KafkaSubscribeResp', oneof => 'resp'],
        [104, 'kafka_produce_resp',    'KafkaProduceResp',   oneof => 'resp'],
        [105, 'kafka_commit_resp',     'KafkaCommitResp',    oneof => 'resp'],
        [106, 'kafka_committed_resp',  'KafkaCommittedResp', oneof => 'resp'],
    ],
);

# Field descriptions indexed by message, then by name and by number.
my (%BY_NAME, %BY_NUM);
for my $msg (keys %SCHEMA) {
    for my $f (@{ $SCHEMA{$msg} }) {
        my ($num, $name, $type, %opt) = @$f;
        my $field = { num => $num, name => $name, type => $type, %opt };
        $BY_NAME{$msg}{$name} = $field;
        $BY_NUM{$msg}{$num}   = $field;
    }
}

sub _is_message { exists $SCHEMA{ $_[0] } }

# Make $s a byte string: characters above 255 are UTF-8 encoded.
sub _bytes {
    my ($s) = @_;
    $s = '' unless defined $s;
    utf8::encode($s) unless utf8::downgrade($s, 1);
    return $s;
}

# ---------------------------------------------------------------------------
# Encoding

# Varint of an integer; negative numbers become their 64-bit two's
# complement (10 bytes), as protobuf does for int32 and int64.
sub pb_varint {
    my ($v) = @_;
    $v = unpack 'Q', pack 'q', $v if $v < 0;
    my $out = '';
    while ($v >= 0x80) {
        $out .= chr(($v & 0x7f) | 0x80);
        $v >>= 7;
    }
    return $out . chr($v);
}

# Field key (tag): field number and wire type.
sub pb_key {
    my ($num, $wire_type) = @_;
    return pb_varint(($num << 3) | $wire_type);
}

# One raw field: pb_field(NUM, varint => N), pb_field(NUM, bytes => B),
# pb_field(NUM, fixed64 => N) or pb_field(NUM, fixed32 => N).  For crafting
# messages the schema does not allow (unknown fields, wrong wire types).
sub pb_field {
    my ($num, $kind, $value) = @_;
    return pb_key($num, WT_VARINT) . pb_varint($value) if $kind eq 'varint';
    if ($kind eq 'bytes') {
        $value = _bytes($value);
        return pb_key($num, WT_LEN) . pb_varint(length $value) . $value;
    }
    return pb_key($num, WT_I64) . pack('q<', $value) if $kind eq 'fixed64';
    return pb_key($num, WT_I32) . pack('l<', $value) if $kind eq 'fixed32';
    die "pb_field: unknown kind '$kind'\n";
}

# Encode one field value (never called for a value proto3 omits).
sub _encode_value {
    my ($field, $value) = @_;
    my ($num, $type) = @$field{qw(num type)};
    if ($type eq 'int32' || $type eq 'int64') {
        return pb_key($num, WT_VARINT) . pb_varint($value);
    }
    if ($type eq 'bool') {
        return pb_key($num, WT_VARINT) . pb_varint($value ? 1 : 0);
    }
    if ($type eq 'bytes' || $type eq 'string') {
        return pb_field($num, bytes => $value);
    }
    my $body = pb_encode($type, $value);
    return pb_key($num, WT_LEN) . pb_varint(length $body) . $body;
}

# proto3: scalar fields holding their default value are not sent.
sub _is_default {
    my ($field, $value) = @_;
    return 1 unless defined $value;
    my $type = $field->{type};
    return 0 if $field->{oneof};    # a oneof member set is always sent
    return $value == 0 if $type eq 'int32' || $type eq 'int64';
    return !$value if $type eq 'bool';
    return $value eq '' if $type eq 'bytes' || $type eq 'string';
    return 0;    # a present sub-message is always sent, even when empty
}

# Encode message $msg from a hash ref (fields in field-number order) or an
# array ref of name => value pairs (fields in the given order, so that
# tests can put them in any order or repeat them).  The extra key "_raw"
# appends its bytes as they are (unknown fields and the like).
sub pb_encode {
    my ($msg, $values) = @_;
    die "pb_encode: unknown message $msg\n" unless _is_message($msg);

    my @pairs;
    if (ref $values eq 'ARRAY') {
        @pairs = @$values;
    }
    elsif (ref $values eq 'HASH') {
        my $rank = sub { $_[0] eq '_raw' ? 1e9 : $BY_NAME{$msg}{ $_[0] }{num} };
        for my $name (keys %$values) {
            die "pb_encode: $msg has no field '$name'\n"
                unless $name eq '_raw' || $BY_NAME{$msg}{$name};
        }
        @pairs = map { ($_, $values->{$_}) }
                 sort { $rank->($a) <=> $rank->($b) } keys %$values;
    }
    elsif (defined $values) {
        die "pb_encode: $msg wants a hash or array ref\n";
    }

    my $out = '';
    while (@pairs) {
        my ($name, $value) = splice @pairs, 0, 2;
        if ($name eq '_raw') {
            $out .= _bytes($value);
            next;
        }
        my $field = $BY_NAME{$msg}{$name}
            or die "pb_encode: $msg has no field '$name'\n";
        if ($field->{repeated} && $field->{type} eq 'int32') {
            next unless @{ $value || [] };
            my $packed = join '', map { pb_varint($_) } @$value;
            $out .= pb_key($field->{num}, WT_LEN)
                    . pb_varint(length $packed) . $packed;
            next;
        }
        if ($field->{repeated}) {
            $out .= _encode_value($field, $_) for @{ $value || [] };
            next;
        }
        next if _is_default($field, $value);
        $out .= _encode_value($field, $value);
    }
    return $out;
}

# pb_req(sequence => 7, cmd_ping => { state => "abc" }): PubSubReq bytes,
# fields in argument order.
sub pb_req { return pb_encode('PubSubReq', [@_]) }

sub pb_req_encode  { return pb_encode('PubSubReq',  $_[0]) }
sub pb_resp_encode { return pb_encode('PubSubResp', $_[0]) }

# ---------------------------------------------------------------------------
# Decoding

# Read a varint at $$pos; undef when truncated or longer than 10 bytes.
sub _read_varint {
    my ($buf, $pos) = @_;
    my ($v, $shift) = (0, 0);
    for (;;) {
        return undef if $$pos >= length $$buf;
        my $b = ord substr $$buf, $$pos++, 1;
        $v |= ($b & 0x7f) << $shift if $shift < 64;
        return $v unless $b & 0x80;
        $shift += 7;
        return undef if $shift >= 70;
    }
}

# Skip the value of a field of wire type $wt (the key already read).
# Returns false on truncated or malformed input.
sub _skip_value {
    my ($buf, $pos, $wt, $num) = @_;
    my $len = length $$buf;
    if ($wt == WT_VARINT) {
        return defined _read_varint($buf, $pos);
    }
    if ($wt == WT_I64 || $wt == WT_I32) {
        my $size = $wt == WT_I64 ? 8 : 4;
        return 0 if $$pos + $size > $len;
        $$pos += $size;
        return 1;
    }
    if ($wt == WT_LEN) {
        my $size = _read_varint($buf, $pos);
        return 0 if !defined $size || $size > $len - $$pos;
        $$pos += $size;
        return 1;
    }
    if ($wt == WT_SGROUP) {
        # a group: fields up to the matching end-group key
        for (;;) {
            my $key = _read_varint($buf, $pos);
            return 0 unless defined $key;
            my ($n, $w) = ($key >> 3, $key & 7);
            return 0 if $n == 0;
            return $n == $num if $w == WT_EGROUP;
            return 0 unless _skip_value($buf, $pos, $w, $n);
        }
    }
    return 0;    # end-group without start, or wire type 6/7
}

# The Perl value of an int32/int64 field from its varint.
sub _to_int {
    my ($type, $v) = @_;
    return unpack 'l', pack 'L', $v & 0xffffffff if $type eq 'int32';
    return unpack 'q', pack 'Q', $v;
}

# Default values of message $msg's fields (as decoded when absent).
sub _defaults {
    my ($msg) = @_;
    my %h;
    for my $field (values %{ $BY_NAME{$msg} }) {
        my $type = $field->{type};
        if ($field->{repeated}) {
            $h{ $field->{name} } = [];
        }
        elsif ($field->{oneof} && !_is_message($type)) {
            # a scalar oneof member: absent unless sent
        }
        elsif ($type eq 'int32' || $type eq 'int64' || $type eq 'bool') {
            $h{ $field->{name} } = 0;
        }
        elsif ($type eq 'bytes' || $type eq 'string') {
            $h{ $field->{name} } = '';
        }
    }
    return \%h;
}

# Decode $bytes as message $msg into hash $into (merging, as protobuf does
# when a sub-message occurs twice).  Returns false when undecodable.
sub _decode_into {
    my ($msg, $bytes, $into) = @_;
    my $buf = \$bytes;
    my $pos = 0;
    while ($pos < length $bytes) {
        my $key = _read_varint($buf, \$pos);
        return 0 unless defined $key;
        my ($num, $wt) = ($key >> 3, $key & 7);
        return 0 if $num == 0;

        my $field = $BY_NUM{$msg}{$num};
        unless ($field) {
            return 0 unless _skip_value($buf, \$pos, $wt, $num);
            next;
        }

        my $type = $field->{type};
        my $name = $field->{name};
        if ($field->{repeated} && $type eq 'int32') {
            # packed or not
            my @v;
            if ($wt == WT_VARINT) {
                my $v = _read_varint($buf, \$pos);
                return 0 unless defined $v;
                @v = ($v);
            }
            elsif ($wt == WT_LEN) {
                my $size = _read_varint($buf, \$pos);
                return 0 if !defined $size || $size > length($bytes) - $pos;
                my $end = $pos + $size;
                while ($pos < $end) {
                    my $v = _read_varint($buf, \$pos);
                    return 0 unless defined $v;
                    push @v, $v;
                }
                return 0 if $pos != $end;
            }
            else {
                return 0;
            }
            push @{ $into->{$name} }, map { _to_int($type, $_) } @v;
            next;
        }
        if ($type eq 'int32' || $type eq 'int64' || $type eq 'bool') {
            return 0 unless $wt == WT_VARINT;
            my $v = _read_varint($buf, \$pos);
            return 0 unless defined $v;
            $into->{$name} = $type eq 'bool' ? ($v ? 1 : 0)
                                             : _to_int($type, $v);
            next;
        }

        return 0 unless $wt == WT_LEN;
        my $size = _read_varint($buf, \$pos);
        return 0 if !defined $size || $size > length($bytes) - $pos;
        my $value = substr $bytes, $pos, $size;
        $pos += $size;

        if ($type eq 'bytes' || $type eq 'string') {
            $into->{$name} = $value;
        }
        elsif ($field->{repeated}) {
            my $sub = _defaults($type);
            return 0 unless _decode_into($type, $value, $sub);
            push @{ $into->{$name} }, $sub;
        }
        else {
            # setting one member of a oneof clears the others
            if (my $oneof = $field->{oneof}) {
                for my $other (values %{ $BY_NAME{$msg} }) {
                    next unless ($other->{oneof} // '') eq $oneof;
                    delete $into->{ $other->{name} }
                        unless $other->{name} eq $name;
                }
            }
            $into->{$name} //= _defaults($type);
            return 0 unless _decode_into($type, $value, $into->{$name});
        }
    }
    return 1;
}

# Decode $bytes as message $msg: a hash ref with every scalar field
# (defaults filled in) and the sub-messages present, or undef when the
# input is truncated or malformed.  Unknown fields are skipped.
sub pb_decode {
    my ($msg, $bytes) = @_;
    die "pb_decode: unknown message $msg\n" unless _is_message($msg);
    my $h = _defaults($msg);
    return _decode_into($msg, _bytes($bytes), $h) ? $h : undef;
}

sub pb_req_decode  { return pb_decode('PubSubReq',  $_[0]) }
sub pb_resp_decode { return pb_decode('PubSubResp', $_[0]) }

# ---------------------------------------------------------------------------
# Rendering

# Printable ASCII as is, '"' and '\' backslash-escaped, other bytes \xNN.
sub escape_bytes {
    my ($s) = @_;
    $s = _bytes($s);
    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

sub quote_bytes { return '"' . escape_bytes($_[0]) . '"' }

# " 0@30 1@12": KafkaPartitionOffset entries as they came
sub _positions {
    my ($list) = @_;
    return join '', map { " $_->{partition}\@$_->{offset}" } @$list;
}

# One line for a PubSubResp payload (see Test::PubSub for the format);
# "binary HEX" when the payload does not decode.
sub pb_resp_render {
    my ($bytes) = @_;
    my $r = pb_resp_decode($bytes);
    return 'binary ' . unpack('H*', _bytes($bytes)) unless $r;

    my $line = "seq=$r->{sequence}";
    if (my $e = $r->{error_resp}) {
        return "$line error code=$e->{code} message="
            . quote_bytes($e->{message});
    }
    if (my $p = $r->{pong_resp}) {
        return "$line pong state=" . quote_bytes($p->{state});
    }
    if (my $l = $r->{kafka_list_offset_resp}) {
        return "$line list_offset offset=$l->{offset}";
    }
    if (my $f = $r->{kafka_fetch_resp}) {
        $line .= ' fetch';
        # the partition (field 6) is left out: APISIX's fetch has one
        for my $m (@{ $f->{messages} }) {
            $line .= " $m->{offset}";
            $line .= '[' . escape_bytes($m->{key}) . ']' if length $m->{key};
            if (@{ $m->{headers} }) {
                $line .= '{' . join(',', map {
                    escape_bytes($_->{key}) . '=' . escape_bytes($_->{value})
                } @{ $m->{headers} }) . '}';
            }
            $line .= '=' . quote_bytes($m->{value});
        }
        return $line;
    }
    if (my $sr = $r->{kafka_subscribe_resp}) {
        $line .= ' subscribe';
        $line .= ' ended' if $sr->{ended};
        return $line . _positions($sr->{positions});
    }
    if (my $pr = $r->{kafka_produce_resp}) {
        return "$line produce p$pr->{partition}\@$pr->{offset}"
               . " ts=$pr->{timestamp}";
    }
    if ($r->{kafka_commit_resp}) {
        return "$line commit";
    }
    if (my $c = $r->{kafka_committed_resp}) {
        return "$line committed" . _positions($c->{offsets});
    }
    return "$line none";
}

1;
