// pubsub.js: a browser client for ngx_http_pubsub_kafka_module (and any
// server speaking Apache APISIX's pubsub protocol, proto/pubsub.proto,
// plus the module's extension: server push, produce, commit).
//
// A plain ES module: no build step, no dependencies.  It works in browsers
// and in Node.js (pass a WebSocket implementation in the options when there
// is no global one).
//
//   import { PubSubClient } from './pubsub.js';
//
//   const client = new PubSubClient('ws://127.0.0.1:8080/kafka');
//
//   // APISIX's commands: look-ups, fetches, and a fetch loop
//   const end = await client.listOffset('demo', 0, -1);
//   const tail = client.tail('demo', 0, {
//     from: 'latest',
//     onMessage: (m) => console.log(m.offset, m.keyText, m.valueText),
//     onError: (err) => console.error(err.message),
//   });
//   tail.stop();
//
//   // the extension: the server pushes every partition of a topic
//   const sub = client.subscribe('demo', {
//     allPartitions: true, start: 'latest', window: 100,
//     group: 'my-app', autoCommit: 1000,      // resume where it left off
//   });
//   for await (const m of sub) console.log(m.partition, m.offset, m.valueText);
//   // (elsewhere: await sub.unsubscribe())
//   const { partition, offset } = await client.produce('demo', 'hello', { key: 'k' });
//   client.close();
//
// Numbers: the protocol's int64 fields (sequence, offset, timestamp) are
// handled as BigInt inside this module.  They are handed out as Number when
// the value is a safe integer (|v| <= 2^53 - 1, which covers every real
// Kafka offset and millisecond timestamp) and as BigInt otherwise.  Every
// function taking an int64 accepts a Number (an integer) or a BigInt.
// Keys, values and header values accept a string (sent UTF-8 encoded) or
// bytes (Uint8Array, any ArrayBuffer view, an ArrayBuffer).
//
// The file has four parts: the protobuf codec (encodeRequest,
// decodeResponse), the client (PubSubClient), the fetch loop (Tail) and
// server push (Subscription).

// ---------------------------------------------------------------------------
// Protobuf codec

// Wire types of the protobuf encoding.
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

// Field numbers of the oneof members of PubSubReq and PubSubResp.
const REQ_EMPTY = 31;
const REQ_PING = 32;
const REQ_FETCH = 33;
const REQ_LIST_OFFSET = 34;
const REQ_SUBSCRIBE = 101;
const REQ_UNSUBSCRIBE = 102;
const REQ_CREDIT = 103;
const REQ_PRODUCE = 104;
const REQ_COMMIT = 105;
const REQ_COMMITTED = 106;

const RESP_ERROR = 31;
const RESP_PONG = 32;
const RESP_FETCH = 33;
const RESP_LIST_OFFSET = 34;
const RESP_SUBSCRIBE = 101;
const RESP_PRODUCE = 104;
const RESP_COMMIT = 105;
const RESP_COMMITTED = 106;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

// A BigInt for an int64 argument (a Number that is an integer, or a
// BigInt); throws otherwise.
function toInt64(value, what) {
  let v;
  if (typeof value === 'bigint') {
    v = value;
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    v = BigInt(value);
  } else {
    throw new TypeError(`${what} must be an integer (Number or BigInt), got ${value}`);
  }
  if (v !== BigInt.asIntN(64, v)) {
    throw new RangeError(`${what} ${v} is out of the int64 range`);
  }
  return v;
}

// The same for an int32 argument.
function toInt32(value, what) {
  const v = toInt64(value, what);
  if (v !== BigInt.asIntN(32, v)) {
    throw new RangeError(`${what} ${v} is out of the int32 range`);
  }
  return v;
}

// An int64 as it is handed out: a Number when that is exact, else a BigInt.
function fromInt64(v) {
  return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
}

// Bytes for a "bytes" field: Uint8Array, any ArrayBuffer view, an
// ArrayBuffer, or a string (UTF-8 encoded).
function toBytes(value, what) {
  if (value === undefined || value === null) return new Uint8Array(0);
  if (typeof value === 'string') return utf8Encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`${what} must be a string or bytes`);
}

// Builds one protobuf message into an array of byte values.  Fields that
// hold their default value (0, empty) are left out, as proto3 does.
class Writer {
  constructor() {
    this.out = [];
  }

  // A varint: a BigInt, written as its 64-bit two's complement, so a
  // negative int32 or int64 takes 10 bytes, as protobuf specifies.
  varint(value) {
    let v = BigInt.asUintN(64, value);
    while (v > 0x7fn) {
      this.out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.out.push(Number(v));
  }

  tag(field, wireType) {
    this.varint(BigInt((field << 3) | wireType));
  }

  // An int32 or int64 field (value is a BigInt); "always" writes it even
  // when 0 (a oneof member, whose presence is what counts).
  int(field, value, always = false) {
    if (value === 0n && !always) return;
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  bool(field, value) {
    if (value) this.int(field, 1n);
  }

  // A packed repeated int32 or int64 field (values are BigInts), as proto3
  // writes them.
  packed(field, values) {
    if (values.length === 0) return;
    const w = new Writer();
    for (const v of values) w.varint(v);
    this.bytes(field, w.out);
  }

  // A sub-message field; present even when empty (an element of a
  // repeated field, a oneof member).
  message(field, writer) {
    this.bytes(field, writer.out, true);
  }

  // A length-delimited field; "always" writes it even when empty (a
  // sub-message that is a oneof member must be present to count).
  bytes(field, bytes, always = false) {
    if (bytes.length === 0 && !always) return;
    this.tag(field, WIRE_LEN);
    this.varint(BigInt(bytes.length));
    for (const b of bytes) this.out.push(b);
  }

  string(field, text) {
    this.bytes(field, utf8Encoder.encode(text));
  }

  finish() {
    return Uint8Array.from(this.out);
  }
}

// The names of the commands encodeRequest knows, and the type of the
// answer each gets (credit: none on success).
const COMMANDS = {
  ping: 'pong',
  listOffset: 'listOffset',
  fetch: 'fetch',
  empty: null,
  subscribe: 'subscribe',
  unsubscribe: 'subscribe',
  credit: null,
  produce: 'produce',
  commit: 'commit',
  committed: 'committed',
};
const COMMAND_NAMES = Object.keys(COMMANDS);

// Record headers for a request: an array of { key, value } objects (or
// [key, value] pairs), a Map, or a plain object { key: value }; a value is
// a string or bytes.  An array keeps order and repeated keys.
function toHeaders(headers, what) {
  if (headers === undefined || headers === null) return [];
  let list;
  if (Array.isArray(headers)) {
    list = headers.map((h) => (Array.isArray(h) ? h : [h && h.key, h && h.value]));
  } else if (headers instanceof Map) {
    list = [...headers];
  } else if (typeof headers === 'object') {
    list = Object.entries(headers);
  } else {
    throw new TypeError(`${what} must be an array, a Map or an object`);
  }
  return list.map(([key, value]) => {
    if (typeof key !== 'string') throw new TypeError(`${what}: a header key must be a string`);
    return { key, value: toBytes(value, `${what} "${key}"`) };
  });
}

// Partition offsets for a request: an array of { partition, offset }
// objects (or [partition, offset] pairs), a Map or a plain object
// { partition: offset }.  As [[partition (BigInt), offset (BigInt)], ...].
function toPartitionOffsets(offsets, what) {
  if (offsets === undefined || offsets === null) return [];
  let list;
  if (Array.isArray(offsets)) {
    list = offsets.map((o) => (Array.isArray(o) ? o : [o && o.partition, o && o.offset]));
  } else if (offsets instanceof Map) {
    list = [...offsets];
  } else if (typeof offsets === 'object') {
    list = Object.entries(offsets).map(([p, o]) => [/^-?\d+$/.test(p) ? Number(p) : p, o]);
  } else {
    throw new TypeError(`${what} must be an array, a Map or an object`);
  }
  return list.map(([p, o]) => [toInt32(p, `${what}: partition`), toInt64(o ?? 0, `${what}: offset`)]);
}

function writeHeaders(w, field, headers) {
  for (const h of headers) {
    const hw = new Writer();
    hw.string(1, h.key);
    hw.bytes(2, h.value);
    w.message(field, hw);
  }
}

function writePartitionOffsets(w, field, offsets) {
  for (const [p, o] of offsets) {
    const pw = new Writer();
    pw.int(1, p);
    pw.int(2, o);
    w.message(field, pw);
  }
}

// encodeRequest(request): the bytes of a PubSubReq.  request is
//   { sequence, ping: { state } }
//   { sequence, listOffset: { topic, partition, timestamp } }
//   { sequence, fetch: { topic, partition, offset } }
//   { sequence, empty: {} }
// or one of the extension's commands:
//   { sequence, subscribe: { topic, partitions, allPartitions, start, group,
//                            filter: { key, headers }, window } }
//   { sequence, unsubscribe: { subscription } }
//   { sequence, credit: { subscription, messages } }
//   { sequence, produce: { topic, partition, key, value, headers, timestamp } }
//   { sequence, commit: { group, topic, offsets } }
//   { sequence, committed: { group, topic, partitions } }
// with exactly one command; sequence, timestamp, offset, start and
// subscription are int64, partition, window and messages int32 (Number or
// BigInt); state, key and value are a string or bytes.  partitions (of
// subscribe) and offsets (of commit) are partition offsets: an array of
// { partition, offset } (or [partition, offset]), a Map or an object
// { partition: offset }; partitions of committed an array of numbers;
// headers as toHeaders() takes them.  produce's partition is sent only
// when it is given (not undefined or null): without it the server's
// partitioner chooses.
export function encodeRequest(request) {
  const commands = COMMAND_NAMES.filter((name) => request[name] !== undefined);
  if (commands.length !== 1) {
    throw new TypeError(`a request needs exactly one of ${COMMAND_NAMES.join(', ')}`);
  }
  const name = commands[0];
  const cmd = request[name] || {};
  const body = new Writer();
  let field;

  switch (name) {
    case 'ping':
      field = REQ_PING;
      body.bytes(1, toBytes(cmd.state, 'ping state'));
      break;
    case 'listOffset':
      field = REQ_LIST_OFFSET;
      body.string(1, String(cmd.topic ?? ''));
      body.int(2, toInt32(cmd.partition ?? 0, 'partition'));
      body.int(3, toInt64(cmd.timestamp ?? 0, 'timestamp'));
      break;
    case 'fetch':
      field = REQ_FETCH;
      body.string(1, String(cmd.topic ?? ''));
      body.int(2, toInt32(cmd.partition ?? 0, 'partition'));
      body.int(3, toInt64(cmd.offset ?? 0, 'offset'));
      break;
    case 'subscribe': {
      field = REQ_SUBSCRIBE;
      body.string(1, String(cmd.topic ?? ''));
      writePartitionOffsets(body, 2, toPartitionOffsets(cmd.partitions, 'subscribe partitions'));
      body.bool(3, cmd.allPartitions);
      body.int(4, toInt64(cmd.start ?? 0, 'subscribe start'));
      body.string(5, String(cmd.group ?? ''));
      if (cmd.filter) {
        const fw = new Writer();
        fw.bytes(1, toBytes(cmd.filter.key, 'filter key'));
        writeHeaders(fw, 2, toHeaders(cmd.filter.headers, 'filter headers'));
        if (fw.out.length > 0) body.message(6, fw);
      }
      body.int(7, toInt32(cmd.window ?? 0, 'window'));
      break;
    }
    case 'unsubscribe':
      field = REQ_UNSUBSCRIBE;
      body.int(1, toInt64(cmd.subscription ?? 0, 'subscription'));
      break;
    case 'credit':
      field = REQ_CREDIT;
      body.int(1, toInt64(cmd.subscription ?? 0, 'subscription'));
      body.int(2, toInt32(cmd.messages ?? 0, 'credit messages'));
      break;
    case 'produce':
      field = REQ_PRODUCE;
      body.string(1, String(cmd.topic ?? ''));
      if (cmd.partition !== undefined && cmd.partition !== null) {
        body.int(2, toInt32(cmd.partition, 'partition'), true);
      }
      body.bytes(3, toBytes(cmd.key, 'key'));
      body.bytes(4, toBytes(cmd.value, 'value'));
      writeHeaders(body, 5, toHeaders(cmd.headers, 'headers'));
      body.int(6, toInt64(cmd.timestamp ?? 0, 'timestamp'));
      break;
    case 'commit':
      field = REQ_COMMIT;
      body.string(1, String(cmd.group ?? ''));
      body.string(2, String(cmd.topic ?? ''));
      writePartitionOffsets(body, 3, toPartitionOffsets(cmd.offsets, 'commit offsets'));
      break;
    case 'committed':
      field = REQ_COMMITTED;
      body.string(1, String(cmd.group ?? ''));
      body.string(2, String(cmd.topic ?? ''));
      body.packed(3, (cmd.partitions ?? []).map((p) => toInt32(p, 'committed partitions')));
      break;
    default:
      field = REQ_EMPTY;
  }

  const req = new Writer();
  req.int(1, toInt64(request.sequence ?? 0, 'sequence'));
  req.bytes(field, body.finish(), true);
  return req.finish();
}

// Reads a protobuf message from a Uint8Array; throws on truncated or
// malformed input.
class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.buf = bytes;
    this.pos = start;
    this.end = end;
  }

  done() {
    return this.pos >= this.end;
  }

  fail(why) {
    throw new Error(`malformed PubSubResp: ${why}`);
  }

  // A varint as an unsigned 64-bit BigInt (at most 10 bytes).
  varint() {
    let v = 0n;
    for (let i = 0, shift = 0n; i < 10; i++, shift += 7n) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, v);
    }
    return this.fail('varint longer than 10 bytes');
  }

  // A varint used as a tag or a length: a Number.
  uint() {
    const v = this.varint();
    if (v > MAX_SAFE) this.fail('length out of range');
    return Number(v);
  }

  // The next field's number and wire type, as [field, wireType].
  tag() {
    const t = this.uint();
    const field = Math.floor(t / 8);
    if (field === 0) this.fail('field number 0');
    return [field, t % 8];
  }

  int64() {
    return BigInt.asIntN(64, this.varint());
  }

  int32() {
    return Number(BigInt.asIntN(32, this.varint()));
  }

  // The bounds [start, end) of a length-delimited field's contents.
  lenRange() {
    const len = this.uint();
    if (len > this.end - this.pos) this.fail('truncated length-delimited field');
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  bytes() {
    const [start, end] = this.lenRange();
    // a view into the received message: no copy
    return this.buf.subarray(start, end);
  }

  string() {
    return utf8Decoder.decode(this.bytes());
  }

  // A sub-message's Reader.
  message() {
    const [start, end] = this.lenRange();
    return new Reader(this.buf, start, end);
  }

  // Skips a field we do not know (forward compatibility).
  skip(wireType) {
    switch (wireType) {
      case WIRE_VARINT: this.varint(); break;
      case WIRE_I64: this.advance(8); break;
      case WIRE_LEN: this.lenRange(); break;
      case WIRE_I32: this.advance(4); break;
      default: this.fail(`unsupported wire type ${wireType}`);
    }
  }

  advance(n) {
    if (n > this.end - this.pos) this.fail('truncated fixed-size field');
    this.pos += n;
  }

  // Checks the wire type of a known field.
  expect(field, wireType, want) {
    if (wireType !== want) this.fail(`field ${field} has wire type ${wireType}, want ${want}`);
  }
}

// A record header of a KafkaMessage: key (string) and value (Uint8Array, a
// view into the received WebSocket message); valueText decodes the value
// as UTF-8.
export class KafkaHeader {
  constructor(key, value) {
    this.key = key;
    this.value = value;
  }

  get valueText() {
    return utf8Decoder.decode(this.value);
  }
}

// A message of a KafkaFetchResp (of a fetch or of a subscription).  key
// and value are Uint8Array views into the received WebSocket message;
// keyText and valueText decode them as UTF-8 (invalid sequences become
// U+FFFD).  headers is an array of KafkaHeader in the record's order
// (repeated keys kept); header(key) is the first one's value.  partition
// is the message's partition (servers that do not send it: 0).
export class KafkaMessage {
  constructor(offset, timestamp, key, value, headers = [], partition = 0) {
    this.offset = offset;       // Number (or BigInt past 2^53)
    this.timestamp = timestamp; // milliseconds since the epoch, as the broker has it
    this.key = key;             // Uint8Array, empty when the message has no key
    this.value = value;         // Uint8Array
    this.headers = headers;     // KafkaHeader[]
    this.partition = partition; // Number
  }

  get keyText() {
    return utf8Decoder.decode(this.key);
  }

  get valueText() {
    return utf8Decoder.decode(this.value);
  }

  // The value (Uint8Array) of the first header with this key, or undefined.
  header(key) {
    const h = this.headers.find((x) => x.key === key);
    return h ? h.value : undefined;
  }
}

function decodeHeader(r) {
  let key = '';
  let value = new Uint8Array(0);
  while (!r.done()) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1: r.expect(field, wt, WIRE_LEN); key = r.string(); break;
      case 2: r.expect(field, wt, WIRE_LEN); value = r.bytes(); break;
      default: r.skip(wt);
    }
  }
  return new KafkaHeader(key, value);
}

function decodeKafkaMessage(r) {
  let offset = 0n;
  let timestamp = 0n;
  let key = new Uint8Array(0);
  let value = new Uint8Array(0);
  let partition = 0;
  const headers = [];
  while (!r.done()) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1: r.expect(field, wt, WIRE_VARINT); offset = r.int64(); break;
      case 2: r.expect(field, wt, WIRE_VARINT); timestamp = r.int64(); break;
      case 3: r.expect(field, wt, WIRE_LEN); key = r.bytes(); break;
      case 4: r.expect(field, wt, WIRE_LEN); value = r.bytes(); break;
      case 5: r.expect(field, wt, WIRE_LEN); headers.push(decodeHeader(r.message())); break;
      case 6: r.expect(field, wt, WIRE_VARINT); partition = r.int32(); break;
      default: r.skip(wt);
    }
  }
  return new KafkaMessage(fromInt64(offset), fromInt64(timestamp), key, value, headers, partition);
}

// A KafkaPartitionOffset as { partition, offset }.
function decodePartitionOffset(r) {
  let partition = 0;
  let offset = 0n;
  while (!r.done()) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1: r.expect(field, wt, WIRE_VARINT); partition = r.int32(); break;
      case 2: r.expect(field, wt, WIRE_VARINT); offset = r.int64(); break;
      default: r.skip(wt);
    }
  }
  return { partition, offset: fromInt64(offset) };
}

// The members of a response whose field "repeatedField" holds
// KafkaPartitionOffsets: { list, flags } where flags are the varint fields
// named in "varints" ({ number: name }).
function decodeOffsetList(m, repeatedField, varints = {}) {
  const list = [];
  const flags = {};
  while (!m.done()) {
    const [f, t] = m.tag();
    if (f === repeatedField) {
      m.expect(f, t, WIRE_LEN);
      list.push(decodePartitionOffset(m.message()));
    } else if (varints[f]) {
      m.expect(f, t, WIRE_VARINT);
      flags[varints[f]] = m.varint();
    } else {
      m.skip(t);
    }
  }
  return { list, flags };
}

const RESPONSE_FIELDS = new Set([
  RESP_ERROR, RESP_PONG, RESP_FETCH, RESP_LIST_OFFSET,
  RESP_SUBSCRIBE, RESP_PRODUCE, RESP_COMMIT, RESP_COMMITTED,
]);

// decodeResponse(bytes): a PubSubResp (bytes: Uint8Array or ArrayBuffer) as
//   { sequence, type: 'error',      error: { code, message } }
//   { sequence, type: 'pong',       pong: { state } }            state: Uint8Array
//   { sequence, type: 'fetch',      fetch: { messages } }        KafkaMessage[]
//   { sequence, type: 'listOffset', listOffset: { offset } }
//   { sequence, type: 'subscribe',  subscribe: { positions, ended } }
//   { sequence, type: 'produce',    produce: { partition, offset, timestamp } }
//   { sequence, type: 'commit',     commit: {} }
//   { sequence, type: 'committed',  committed: { offsets } }
//   { sequence, type: 'none' }     (no response member we know)
// positions and offsets are arrays of { partition, offset }; ended a
// boolean.  Throws an Error on malformed input.
export function decodeResponse(bytes) {
  const buf = bytes instanceof Uint8Array ? bytes : toBytes(bytes, 'response');
  const r = new Reader(buf);
  const resp = { sequence: 0, type: 'none' };

  while (!r.done()) {
    const [field, wt] = r.tag();
    if (field === 1) {
      r.expect(field, wt, WIRE_VARINT);
      resp.sequence = fromInt64(r.int64());
      continue;
    }
    if (!RESPONSE_FIELDS.has(field)) {
      r.skip(wt);
      continue;
    }

    // a oneof member: the last one wins, as in protobuf
    r.expect(field, wt, WIRE_LEN);
    const m = r.message();
    delete resp[resp.type];

    switch (field) {
      case RESP_ERROR: {
        const error = { code: 0, message: '' };
        while (!m.done()) {
          const [f, t] = m.tag();
          if (f === 1) { m.expect(f, t, WIRE_VARINT); error.code = m.int32(); }
          else if (f === 2) { m.expect(f, t, WIRE_LEN); error.message = m.string(); }
          else m.skip(t);
        }
        resp.type = 'error';
        resp.error = error;
        break;
      }
      case RESP_PONG: {
        const pong = { state: new Uint8Array(0) };
        while (!m.done()) {
          const [f, t] = m.tag();
          if (f === 1) { m.expect(f, t, WIRE_LEN); pong.state = m.bytes(); }
          else m.skip(t);
        }
        resp.type = 'pong';
        resp.pong = pong;
        break;
      }
      case RESP_FETCH: {
        const messages = [];
        while (!m.done()) {
          const [f, t] = m.tag();
          if (f === 1) {
            m.expect(f, t, WIRE_LEN);
            messages.push(decodeKafkaMessage(m.message()));
          } else {
            m.skip(t);
          }
        }
        resp.type = 'fetch';
        resp.fetch = { messages };
        break;
      }
      case RESP_LIST_OFFSET: {
        let offset = 0n;
        while (!m.done()) {
          const [f, t] = m.tag();
          if (f === 1) { m.expect(f, t, WIRE_VARINT); offset = m.int64(); }
          else m.skip(t);
        }
        resp.type = 'listOffset';
        resp.listOffset = { offset: fromInt64(offset) };
        break;
      }
      case RESP_SUBSCRIBE: {
        const { list, flags } = decodeOffsetList(m, 1, { 2: 'ended' });
        resp.type = 'subscribe';
        resp.subscribe = { positions: list, ended: (flags.ended ?? 0n) !== 0n };
        break;
      }
      case RESP_PRODUCE: {
        const produce = { partition: 0, offset: 0, timestamp: 0 };
        while (!m.done()) {
          const [f, t] = m.tag();
          if (f === 1) { m.expect(f, t, WIRE_VARINT); produce.partition = m.int32(); }
          else if (f === 2) { m.expect(f, t, WIRE_VARINT); produce.offset = fromInt64(m.int64()); }
          else if (f === 3) { m.expect(f, t, WIRE_VARINT); produce.timestamp = fromInt64(m.int64()); }
          else m.skip(t);
        }
        resp.type = 'produce';
        resp.produce = produce;
        break;
      }
      case RESP_COMMIT: {
        while (!m.done()) m.skip(m.tag()[1]);
        resp.type = 'commit';
        resp.commit = {};
        break;
      }
      default: {
        const { list } = decodeOffsetList(m, 1);
        resp.type = 'committed';
        resp.committed = { offsets: list };
      }
    }
  }
  return resp;
}

// ---------------------------------------------------------------------------
// Errors

// The server answered with ErrorResp.  message is the server's text, e.g.
// "failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE".
export class ServerError extends Error {
  constructor(message, code = 0, sequence = 0) {
    super(message);
    this.name = 'ServerError';
    this.code = code;
    this.sequence = sequence;
  }
}

// The WebSocket closed (or never opened) before the answer came.
export class ConnectionClosedError extends Error {
  constructor(message, code = 1006, reason = '') {
    super(message);
    this.name = 'ConnectionClosedError';
    this.code = code;
    this.reason = reason;
  }
}

// No answer within the client's requestTimeout.
export class RequestTimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RequestTimeoutError';
  }
}

// ---------------------------------------------------------------------------
// The client

// WebSocket readyState values.
const CONNECTING = 0;
const OPEN = 1;

// How many credits' sequences the client remembers, to give their error
// answers to their subscription.
const MAX_UNANSWERED = 1024;

// An event with a "detail" (CustomEvent is not global before Node.js 19).
function makeEvent(type, detail) {
  if (typeof CustomEvent === 'function') return new CustomEvent(type, { detail });
  return Object.assign(new Event(type), { detail });
}

// new PubSubClient(url, options): opens a WebSocket to url right away.
// Requests made before it is open are sent once it is.  Options:
//   WebSocket       the WebSocket class (default: the global one)
//   requestTimeout  milliseconds a request may wait for its answer before
//                   it is rejected with RequestTimeoutError (default 30000;
//                   0: no limit).  Every command of the server is answered
//                   within its own bounds (a fetch waits at most
//                   pubsub_kafka_fetch_max_wait, a look-up at most
//                   pubsub_kafka_timeout), so this only catches dead
//                   connections.
// Events (it is an EventTarget): 'open'; 'close' (event.detail: { code,
// reason, wasClean }); 'error' (event.detail: an Error, for what cannot be
// tied to a request, e.g. an ErrorResp with an unknown sequence or a
// malformed message).
//
// The client does not reconnect by itself, except for subscriptions with
// the reconnect option: while one of them is on, a socket that closes
// (not by close()) is opened again, after a delay that doubles from the
// subscription's reconnect.delay up to reconnect.maxDelay; requests
// waiting on the old socket are rejected as usual, later ones wait for
// the new one; 'close' and then 'open' are dispatched each time, and
// `reconnects` counts the new sockets.
export class PubSubClient extends EventTarget {
  constructor(url, options = {}) {
    super();
    const WS = options.WebSocket || globalThis.WebSocket;
    if (!WS) throw new Error('no WebSocket implementation: pass options.WebSocket');

    this.url = url;
    this.requestTimeout = options.requestTimeout ?? 30000;
    this.closed = false;        // true once the socket closed
    this.reconnects = 0;        // sockets opened again for subscriptions
    this.closeCode = null;
    this._sequence = 0;         // the last sequence used
    this._pending = new Map();  // sequence -> { resolve, reject, timer }
    this._streams = new Map();  // subscribe's sequence -> Subscription
    this._unanswered = new Map(); // credit's sequence -> Subscription (recent ones)
    this._queue = [];           // requests made while connecting
    this._resumable = new Set(); // Subscriptions with the reconnect option
    this._closing = false;      // close() was called
    this._reconnecting = false; // between a lost socket and a new one open
    this._delay = 0;            // ms before the next new socket
    this._WS = WS;

    // resolves on open, rejects (ConnectionClosedError) if it closes first
    this.opened = new Promise((resolve, reject) => {
      this._openResolve = resolve;
      this._openReject = reject;
    });
    // an unobserved rejection of "opened" is not an error of the caller
    this.opened.catch(() => {});

    this._connect();
  }

  _connect() {
    const ws = new this._WS(this.url);
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    // a socket replaced by a new one has nothing more to say
    ws.onopen = () => { if (this._ws === ws) this._onOpen(); };
    ws.onmessage = (event) => { if (this._ws === ws) this._onMessage(event.data); };
    ws.onclose = (event) => {
      if (this._ws === ws) this._onClose(event.code, event.reason, event.wasClean);
    };
    // an 'error' event is always followed by 'close', which does the work
    ws.onerror = () => {};
  }

  // PubSubClient.connect(url, options): a Promise of a client whose socket
  // is open.
  static async connect(url, options) {
    const client = new PubSubClient(url, options);
    await client.opened;
    return client;
  }

  get isOpen() {
    return !this.closed && this._ws.readyState === OPEN;
  }

  // Closes the socket; requests still waiting are rejected with
  // ConnectionClosedError.  Subscriptions end (endReason 'closed'); those
  // with autoCommit send their last commit first (its answer cannot come:
  // to know it is stored, await sub.unsubscribe() before closing).
  close(code = 1000, reason = '') {
    if (this.closed) return;
    this._closing = true;
    clearTimeout(this._reconnectTimer);
    const subs = new Set([...this._streams.values(), ...this._resumable]);
    for (const sub of subs) sub._clientClosing();
    try {
      this._ws.close(code, reason);
    } catch (e) {
      this._ws.close();
    }
    // reject at once rather than when the close handshake completes
    this._onClose(code, reason || 'closed by the client', true);
  }

  // ping(state): a Promise of the state the server sent back (Uint8Array).
  async ping(state = '') {
    const resp = await this.request({ ping: { state } });
    return resp.pong.state;
  }

  // listOffset(topic, partition, timestamp): a Promise of an offset.
  // timestamp -1: the end offset (the offset of the next message); -2: the
  // earliest offset; else milliseconds: the first offset whose message
  // time is at or after it, or -1 when there is none.
  async listOffset(topic, partition, timestamp = -1) {
    const resp = await this.request({ listOffset: { topic, partition, timestamp } });
    return resp.listOffset.offset;
  }

  // fetch(topic, partition, offset): a Promise of KafkaMessage[] starting
  // exactly at offset, in order.  At the end of the partition the server
  // waits a moment (pubsub_kafka_fetch_max_wait) for news and may answer
  // with an empty array.
  async fetch(topic, partition, offset) {
    const resp = await this.request({ fetch: { topic, partition, offset } });
    return resp.fetch.messages;
  }

  // tail(topic, partition, options): follows a partition; see Tail.
  tail(topic, partition, options) {
    return new Tail(this, topic, partition, options);
  }

  // subscribe(topic, options): the server pushes the topic's messages; see
  // Subscription.
  subscribe(topic, options) {
    return new Subscription(this, topic, options);
  }

  // produce(topic, value, { key, partition, headers, timestamp }): a
  // Promise of { partition, offset, timestamp }, where Kafka stored the
  // record, once it did.  Without partition the server's partitioner
  // chooses (from the key); timestamp 0 or none: the time of the produce.
  // value and key: string (UTF-8) or bytes; headers: see encodeRequest.
  async produce(topic, value, options = {}) {
    const { key, partition, headers, timestamp } = options;
    const resp = await this.request({ produce: { topic, value, key, partition, headers, timestamp } });
    return resp.produce;
  }

  // commit(group, topic, offsets): stores, for the group, the next offset
  // to read of each partition given (a Map, an object { partition: offset }
  // or an array of { partition, offset }).  A Promise resolved once stored.
  async commit(group, topic, offsets) {
    await this.request({ commit: { group, topic, offsets } });
  }

  // committed(group, topic, partitions): a Promise of a Map partition ->
  // the group's committed offset (-1 where it has none), for the
  // partitions listed, or every partition of the topic when none are.
  async committed(group, topic, partitions = []) {
    const resp = await this.request({ committed: { group, topic, partitions } });
    return new Map(resp.committed.offsets.map((o) => [o.partition, o.offset]));
  }

  // request(command): sends { ping | listOffset | fetch | empty | produce |
  // commit | committed | unsubscribe: {...} } (see encodeRequest; the
  // client sets the sequence) and returns a Promise of the decoded response
  // (see decodeResponse).  An ErrorResp rejects it with ServerError; an
  // answer of another type than the command's with an Error.  subscribe
  // and credit, which are not answered once, go through subscribe().
  request(command) {
    if (this.closed) {
      return Promise.reject(new ConnectionClosedError(
        `connection to ${this.url} is closed`, this.closeCode ?? 1006));
    }
    const want = COMMAND_NAMES.find((k) => command[k] !== undefined);
    if (want === 'subscribe' || want === 'credit') {
      return Promise.reject(new TypeError(`request: ${want} goes through client.subscribe()`));
    }
    const sequence = ++this._sequence;
    let bytes;
    try {
      bytes = encodeRequest({ ...command, sequence });
    } catch (err) {
      return Promise.reject(err);
    }
    const expected = COMMANDS[want];

    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, expected, timer: null };
      this._pending.set(sequence, entry);
      if (this.requestTimeout > 0) {
        entry.timer = setTimeout(() => {
          this._pending.delete(sequence);
          reject(new RequestTimeoutError(
            `no answer to request ${sequence} within ${this.requestTimeout} ms`));
        }, this.requestTimeout);
      }
      if (this._reconnecting || this._ws.readyState === CONNECTING) {
        this._queue.push(bytes);
        return;
      }
      try {
        this._ws.send(bytes);
      } catch (err) {
        this._pending.delete(sequence);
        clearTimeout(entry.timer);
        reject(err);
      }
    });
  }

  // Sends a command without waiting for an answer: a subscribe (whose
  // answers go to owner._onResponse) or a credit (answered only on error,
  // which goes to owner._onCreditError).  Returns its sequence; throws
  // when it cannot be encoded or sent.
  _send(command, owner) {
    if (this.closed) {
      throw new ConnectionClosedError(`connection to ${this.url} is closed`, this.closeCode ?? 1006);
    }
    const sequence = ++this._sequence;
    const bytes = encodeRequest({ ...command, sequence });
    if (command.subscribe) {
      this._streams.set(sequence, owner);
    } else {
      // a credit's error comes soon, if at all: remember the last ones
      this._unanswered.set(sequence, owner);
      if (this._unanswered.size > MAX_UNANSWERED) {
        this._unanswered.delete(this._unanswered.keys().next().value);
      }
    }
    if (this._reconnecting || this._ws.readyState === CONNECTING) {
      this._queue.push(bytes);
    } else {
      this._ws.send(bytes);
    }
    return sequence;
  }

  _onOpen() {
    if (this.closed) return;
    this._reconnecting = false;
    this._delay = 0;
    for (const bytes of this._queue) this._ws.send(bytes);
    this._queue = [];
    this._openResolve();
    for (const sub of [...this._resumable]) sub._resubscribe();
    this.dispatchEvent(new Event('open'));
  }

  _onMessage(data) {
    if (typeof data === 'string') {
      // the protocol is binary; a text message is not for us
      this._report(new Error('unexpected text message from the server'));
      return;
    }
    let resp;
    try {
      resp = decodeResponse(data instanceof ArrayBuffer ? new Uint8Array(data) : toBytes(data));
    } catch (err) {
      this._report(err);
      return;
    }

    const stream = this._streams.get(resp.sequence);
    if (stream) {
      stream._onResponse(resp);
      return;
    }

    const entry = this._pending.get(resp.sequence);
    if (!entry) {
      const owner = this._unanswered.get(resp.sequence);
      if (owner && resp.type === 'error') {
        this._unanswered.delete(resp.sequence);
        owner._onCreditError(new ServerError(resp.error.message, resp.error.code, resp.sequence));
        return;
      }
      // e.g. a malformed request (sequence 0), or an answer after its timeout
      this._report(resp.type === 'error'
        ? new ServerError(resp.error.message, resp.error.code, resp.sequence)
        : new Error(`answer with unknown sequence ${resp.sequence}`));
      return;
    }
    this._pending.delete(resp.sequence);
    clearTimeout(entry.timer);

    if (resp.type === 'error') {
      entry.reject(new ServerError(resp.error.message, resp.error.code, resp.sequence));
    } else if (entry.expected && resp.type !== entry.expected) {
      entry.reject(new Error(`unexpected ${resp.type} answer to request ${resp.sequence}`));
    } else {
      entry.resolve(resp);
    }
  }

  _onClose(code, reason, wasClean) {
    if (this.closed) return;
    const again = !this._closing && this._resumable.size > 0;
    if (!again) this.closed = true;
    this.closeCode = code;
    this._queue = [];
    const err = new ConnectionClosedError(
      `connection to ${this.url} closed (${code}${reason ? ` ${reason}` : ''})`, code, reason);
    if (!again) this._openReject(err);
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    const streams = [...this._streams.values()];
    this._streams.clear();
    this._unanswered.clear();
    for (const sub of streams) sub._onClosed(err);
    if (again && this._resumable.size > 0) this._reconnectLater();
    else if (again) this.closed = true;
    this.dispatchEvent(makeEvent('close', { code, reason, wasClean }));
  }

  // A new socket for the subscriptions that reconnect, after a delay.
  _reconnectLater() {
    let delay = 100;
    let max = 2000;
    for (const sub of this._resumable) {
      delay = sub._reconnect.delay;
      max = sub._reconnect.maxDelay;
    }
    this._delay = this._delay ? Math.min(this._delay * 2, max) : delay;
    this._reconnecting = true;
    this._reconnectTimer = setTimeout(() => {
      if (this._closing || this.closed) return;
      this.reconnects++;
      this._connect();
    }, this._delay);
  }

  _report(err) {
    this.dispatchEvent(makeEvent('error', err));
  }
}

// ---------------------------------------------------------------------------
// Following a partition

// How long an empty answer must have taken for the next fetch to follow at
// once; a quicker one (a server with pubsub_kafka_fetch_max_wait 0) makes
// the loop wait IDLE_DELAY first, so it never spins.
const QUICK_EMPTY = 20;
const IDLE_DELAY = 100;

// client.tail(topic, partition, options): fetches in a loop, each fetch at
// the offset after the last message, and hands every message to onMessage
// once, in order.  At the end of the partition the server holds a fetch
// until a message comes (or pubsub_kafka_fetch_max_wait passes), so the
// loop asks again at once.  Options:
//   from       'latest' (default: only messages produced from now on),
//              'earliest', or an offset (Number or BigInt)
//   onMessage  (message, tail) => void, for each KafkaMessage (required)
//   onBatch    (messages, tail) => void, for each answer, empty ones too,
//              before its messages are handed out (optional)
//   onError    (error, tail) => void (optional): the loop has ended because
//              of an error (ServerError, ConnectionClosedError, ...); it
//              does not retry.  Start a new tail with from: tail.nextOffset (on
//              a new client if the connection is gone) to go on without
//              gaps or duplicates.  An exception thrown by onMessage or
//              onBatch also ends the loop and comes here.
// Properties: state ('starting', 'running', 'paused', 'stopped', 'failed'),
// nextOffset (the offset of the next message to hand out; null until
// 'latest' / 'earliest' is resolved), error, done (a Promise resolved when
// the loop has ended, never rejected).
export class Tail {
  constructor(client, topic, partition, options = {}) {
    if (typeof options.onMessage !== 'function') {
      throw new TypeError('tail: options.onMessage must be a function');
    }
    this.client = client;
    this.topic = topic;
    this.partition = partition;
    this.state = 'starting';
    this.error = null;
    this._onMessage = options.onMessage;
    this._onBatch = options.onBatch || (() => {});
    this._onError = options.onError || (() => {});
    this._stopped = false;
    this._paused = false;
    this._wake = null;          // resolves the wait of a paused loop

    const from = options.from ?? 'latest';
    this._from = from;
    this._next = null;          // BigInt
    if (from !== 'latest' && from !== 'earliest') {
      this._next = toInt64(from, 'tail: from');
    }
    this.done = this._run();
  }

  get nextOffset() {
    return this._next === null ? null : fromInt64(this._next);
  }

  // Holds the messages back until resume(); a fetch already sent is
  // answered, its messages are handed out after resume().
  pause() {
    if (this._stopped || this._paused) return;
    this._paused = true;
    if (this.state === 'running') this.state = 'paused';
  }

  resume() {
    if (this._stopped || !this._paused) return;
    this._paused = false;
    if (this.state === 'paused') this.state = 'running';
    this._wakeUp();
  }

  // Ends the loop; nothing more is handed out.  A fetch already sent is
  // still answered by the server, and that answer is dropped.
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    if (this.state !== 'failed') this.state = 'stopped';
    this._wakeUp();
  }

  _wakeUp() {
    if (this._wake) {
      this._wake();
      this._wake = null;
    }
  }

  // Resolves when not paused (at once when not paused) or stopped.
  _whilePaused() {
    if (!this._paused || this._stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this._wake = resolve;
    });
  }

  async _run() {
    const { client, topic, partition } = this;
    try {
      if (this._next === null) {
        const offset = await client.listOffset(topic, partition,
          this._from === 'latest' ? -1 : -2);
        this._next = BigInt(offset);
      }
      if (this._stopped) return;
      this.state = this._paused ? 'paused' : 'running';

      while (!this._stopped) {
        await this._whilePaused();
        if (this._stopped) break;

        const started = Date.now();
        const messages = await client.fetch(topic, partition, this._next);
        if (this._stopped) break;

        this._onBatch(messages, this);
        await this._whilePaused();

        for (const m of messages) {
          if (this._stopped) break;
          const offset = BigInt(m.offset);
          // the server starts exactly at the offset asked for; never hand
          // a message out twice whatever it sends
          if (offset < this._next) continue;
          this._next = offset + 1n;
          this._onMessage(m, this);
        }

        if (messages.length === 0 && Date.now() - started < QUICK_EMPTY) {
          await new Promise((resolve) => setTimeout(resolve, IDLE_DELAY));
        }
      }
    } catch (err) {
      if (this._stopped) return;
      this._stopped = true;
      this.state = 'failed';
      this.error = err;
      try {
        this._onError(err, this);
      } catch (e) {
        // "done" never rejects; an onError that throws is reported only
        console.error('tail: onError threw', e);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Server push

// An offset or start as a subscribe option takes it: 'latest', 'earliest'
// or a number.
function toStart(value, what) {
  if (value === 'latest') return -1n;
  if (value === 'earliest') return -2n;
  return toInt64(value, what);
}

// The partitions option of subscribe as [[partition, offset (BigInt)]]: an
// array of partition numbers (each from bareOffset), of { partition,
// offset } or of [partition, offset]; a Map or an object { partition:
// offset }.  Offsets may be 'latest' or 'earliest'.
function subscribePartitions(partitions, bareOffset) {
  if (partitions === undefined || partitions === null) return [];
  let list;
  if (Array.isArray(partitions)) {
    list = partitions.map((p) => {
      if (typeof p === 'number' || typeof p === 'bigint') return [p, bareOffset];
      if (Array.isArray(p)) return p;
      return [p && p.partition, p && p.offset];
    });
  } else if (partitions instanceof Map) {
    list = [...partitions];
  } else if (typeof partitions === 'object') {
    list = Object.entries(partitions).map(([p, o]) => [/^-?\d+$/.test(p) ? Number(p) : p, o]);
  } else {
    throw new TypeError('subscribe: partitions must be an array, a Map or an object');
  }
  return list.map(([p, o]) => [toInt32(p, 'subscribe: partition'),
    toStart(o ?? bareOffset, 'subscribe: partition offset')]);
}

function optionalFunction(options, name) {
  const f = options[name];
  if (f !== undefined && typeof f !== 'function') {
    throw new TypeError(`subscribe: options.${name} must be a function`);
  }
  return f || null;
}

// client.subscribe(topic, options): asks the server to push the topic's
// messages (CmdKafkaSubscribe) and hands each to the application once, in
// order within its partition.  Options:
//   partitions     partitions to read, each from its own offset: an array
//                  of numbers (each from the end, or from the earliest
//                  offset when start is 'earliest'), of { partition,
//                  offset } or [partition, offset], a Map or an object
//                  { partition: offset }; an offset is >= 0, 'latest' (-1)
//                  or 'earliest' (-2)
//   allPartitions  also every other partition of the topic, from start
//                  (default: true when no partitions are given)
//   start          where allPartitions' partitions start: 'latest'
//                  (default, also 0 or -1), 'earliest' (-2), or a time in
//                  ms (> 0)
//   group          a consumer group: partitions the group has an offset for
//                  start there instead of at start (explicit partition
//                  offsets win)
//   autoCommit     ms (needs group): commit, for the group, the next offset
//                  of what the application has processed, every so often,
//                  on unsubscribe() and on client.close() (see below)
//   window         > 0: the server pushes at most this many messages that
//                  the application has not consumed; the subscription
//                  grants credit back (CmdKafkaCredit) as they are
//                  consumed, in batches of half the window, so a consumer
//                  that stops stops the server, and at most `window`
//                  messages wait here.  0 (default): no flow control, the
//                  server pushes as fast as it reads, and what the
//                  application has not taken yet waits here, unbounded.
//   filter         { key, headers }: only messages with that key (if given)
//                  and every header listed, with that value (server side;
//                  filtered messages cost no credit)
//   onMessage      (message, sub) => void or a Promise: each KafkaMessage
//                  (with partition and headers); when it returns a Promise
//                  the next message waits for it.  Without onMessage the
//                  messages are taken by iterating: for await (const m of sub)
//   onGap          (gaps, sub) => void: the server jumped over messages that
//                  are no longer in Kafka; gaps is [{ partition, from, to }]
//                  (from: the position before, to: the new one), in stream
//                  order with the messages
//   onEnd          (positions, sub) => void: the subscription ended without
//                  an error (unsubscribe(), the server ended it, the client
//                  was closed)
//   reconnect      true or { delay, maxDelay } (ms, default 100 and 2000):
//                  when the socket closes (not by client.close()) or the
//                  server ends the subscription, or answers 503 or 504, the
//                  subscription is not over: the client opens a new socket
//                  (see PubSubClient) and the subscription subscribes again,
//                  each partition from its position (the next offset to hand
//                  out), the others as at first (allPartitions and start, or
//                  the group's committed offsets); messages received and not
//                  handed out are dropped and come again, so none is handed
//                  out twice or skipped.  Meanwhile state is 'reconnecting'.
//   onError        (error, sub) => void: it failed (ServerError from the
//                  server, ConnectionClosedError when the socket went,
//                  RequestTimeoutError when the first answer did not come
//                  within the client's requestTimeout, an exception of
//                  onMessage or onGap, a protocol violation).  Exactly one
//                  of onEnd and onError is called.
// A message is consumed (for credit) when it is handed to onMessage and it
// returned (or its Promise settled), or when the iterator handed it out.
// It is processed (for commits) at the same time with onMessage, and for
// the iterator when the next message is asked for, or on unsubscribe(): so
// a commit never covers a message the loop body has not finished.
//
// Properties: sequence (the subscription's id: its subscribe's sequence),
// state ('starting', 'running', 'ending', 'ended', 'failed'), positions (a
// Map partition -> the offset of the next message to hand out, updated as
// messages are handed out and on gaps), started (a Promise of the start
// positions, a Map; rejected if it fails or ends before), ended (a Promise
// of the final positions, resolved however it ends, never rejected),
// endReason ('unsubscribed', 'server', 'closed', 'failed'), error, buffered
// (messages received and not handed out yet).  positions is where a new
// subscription (partitions: sub.positions) goes on without gaps or
// duplicates: messages received but not handed out when it ends are
// dropped and not counted.
export class Subscription {
  constructor(client, topic, options = {}) {
    this.client = client;
    this.topic = topic;
    this.group = options.group ?? '';
    this.window = Number(toInt32(options.window ?? 0, 'subscribe: window'));
    if (this.window < 0) throw new RangeError('subscribe: window must be 0 or more');
    this.autoCommit = options.autoCommit || 0;
    if (this.autoCommit) {
      if (typeof this.autoCommit !== 'number' || !(this.autoCommit > 0)) {
        throw new TypeError('subscribe: autoCommit must be a number of milliseconds');
      }
      if (!this.group) throw new TypeError('subscribe: autoCommit needs a group');
    }
    this._onMessage = optionalFunction(options, 'onMessage');
    this._onGap = optionalFunction(options, 'onGap');
    this._onEnd = optionalFunction(options, 'onEnd');
    this._onError = optionalFunction(options, 'onError');
    this._reconnect = null;
    if (options.reconnect) {
      const r = options.reconnect === true ? {} : options.reconnect;
      this._reconnect = { delay: r.delay ?? 100, maxDelay: r.maxDelay ?? 2000 };
    }
    this._resuming = false;       // subscribes again when the socket is open
    this._restarting = false;     // the first answer of a new subscribe is awaited

    const start = toStart(options.start ?? 'latest', 'subscribe: start');
    const partitions = subscribePartitions(options.partitions, start === -2n ? -2n : -1n);
    const allPartitions = options.allPartitions ?? partitions.length === 0;

    this.sequence = null;
    this.state = 'starting';
    this.positions = new Map();
    this.endReason = null;
    this.error = null;

    this._pos = new Map();        // partition -> BigInt: next offset to hand out
    this._done = new Map();       // partition -> BigInt: next offset after what is processed
    this._committed = new Map();  // partition -> BigInt: last offset committed
    this._queue = [];             // KafkaMessage, or { gap: positions }
    this._head = 0;
    this._outstanding = 0;        // pushed and not granted back
    this._uncredited = 0;         // consumed and not granted back yet
    this._threshold = Math.max(1, Math.ceil(this.window / 2));
    this._started = false;
    this._stopped = false;        // nothing more is handed out
    this._over = false;           // ended or failed
    this._serverGone = false;     // the server has ended it
    this._busy = false;           // an onMessage Promise is pending
    this._pumping = false;
    this._waiter = null;          // the iterator's pending next()
    this._lastHanded = null;      // [partition, offset + 1] of the iterator's last message
    this._errorDelivered = false;
    this._unsubscribing = null;
    this._commitTimer = null;
    this._commitInFlight = null;
    this._startTimer = null;

    this.started = new Promise((resolve, reject) => {
      this._startedResolve = resolve;
      this._startedReject = reject;
    });
    this.started.catch(() => {});
    this.ended = new Promise((resolve) => {
      this._endedResolve = resolve;
    });

    const command = {
      subscribe: {
        topic, partitions, allPartitions, start, group: this.group,
        filter: options.filter, window: this.window,
      },
    };
    encodeRequest({ ...command, sequence: 1 });     // throws on bad options, here
    this._command = command;
    if (this._reconnect) client._resumable.add(this);
    try {
      this.sequence = client._send(command, this);
    } catch (err) {
      queueMicrotask(() => this._fail(err, false));
      return;
    }
    this._startTimeout();
  }

  _startTimeout() {
    const client = this.client;
    if (client.requestTimeout > 0) {
      clearTimeout(this._startTimer);
      this._startTimer = setTimeout(() => {
        this._fail(new RequestTimeoutError(
          `no answer to subscription ${this.sequence} within ${client.requestTimeout} ms`), true);
      }, client.requestTimeout);
    }
  }

  get buffered() {
    return this._queue.length - this._head;
  }

  // Ends the subscription (CmdKafkaUnsubscribe); nothing more is handed out
  // from now on.  With autoCommit, commits what was handed out first.  A
  // Promise of the final positions, resolved once the server answered (or
  // the connection is gone); never rejected: a failure of the unsubscribe
  // itself goes to the client's 'error' event.
  unsubscribe() {
    if (this._unsubscribing) return this._unsubscribing;
    if (this._over || this._stopped) return this.ended;
    if (this.sequence === null) {
      // it could not even be sent
      this._end('unsubscribed', []);
      return this.ended;
    }
    this._stop();
    this.state = 'ending';
    for (const [p, v] of this._pos) this._done.set(p, v);
    const commit = this.autoCommit ? this._commitNow().catch((err) => this._report(err)) : null;
    const unsubscribed = this.client.request({ unsubscribe: { subscription: this.sequence } });
    this._unsubscribing = (async () => {
      let positions = [];
      try {
        const resp = await unsubscribed;
        positions = resp.subscribe.positions;
      } catch (err) {
        // the server may have ended it meanwhile (404), or the socket went
        if (!this._serverGone) this._report(err);
      }
      this._serverDone();
      if (commit) await commit;
      this._end('unsubscribed', positions);
      return new Map(this.positions);
    })();
    return this._unsubscribing;
  }

  // Commits, for the group, the next offset of each partition after what
  // was processed (see above), now.  A Promise resolved once stored.
  async commit() {
    if (!this.group) throw new TypeError('subscription: commit needs a group');
    await this._commitNow();
  }

  // The async iterator: for await (const m of sub) { ... }.  Leaving the
  // loop (break, return, an exception) unsubscribes.  A failure rejects
  // the next() that waits (or the next one).
  [Symbol.asyncIterator]() {
    if (this._onMessage) {
      throw new TypeError('subscription: with onMessage, messages are not iterated');
    }
    return this;
  }

  next() {
    if (this._onMessage) {
      return Promise.reject(new TypeError('subscription: with onMessage, messages are not iterated'));
    }
    if (this._waiter) return Promise.reject(new Error('subscription: next() while another waits'));
    if (this._lastHanded) {
      this._done.set(this._lastHanded[0], this._lastHanded[1]);
      this._lastHanded = null;
    }
    if (this._over || this._stopped) {
      if (this.error && !this._errorDelivered) {
        this._errorDelivered = true;
        return Promise.reject(this.error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this._waiter = { resolve, reject };
      this._pump();
    });
  }

  async return() {
    await this.unsubscribe();
    return { value: undefined, done: true };
  }

  // --- from the client

  _onResponse(resp) {
    if (this._stopped) {
      // ended here: only whether the server is done with it matters
      if (resp.type === 'error' || (resp.type === 'subscribe' && resp.subscribe.ended)) {
        this._serverDone();
      }
      return;
    }
    switch (resp.type) {
      case 'subscribe': {
        const { positions, ended } = resp.subscribe;
        if (!this._started) {
          this._onStarted(positions);
        } else if (this._restarting) {
          this._onRestarted(positions);
        } else if (!ended) {
          this._push({ gap: positions });
          this._pump();
        }
        if (ended) {
          this._serverDone();
          if (this._canResume()) {
            this._suspend();
            this._resubscribeLater();
          } else {
            this._end('server', positions);
          }
        }
        break;
      }
      case 'fetch':
        if (!this._started) {
          this._fail(new Error(`subscription ${this.sequence}: messages before its start positions`), true);
          return;
        }
        for (const m of resp.fetch.messages) this._push(m);
        this._outstanding += resp.fetch.messages.length;
        if (this.window > 0 && this._outstanding > this.window) {
          this._fail(new Error(`subscription ${this.sequence}: the server pushed `
            + `${this._outstanding} messages, more than the window of ${this.window}`), true);
          return;
        }
        this._pump();
        break;
      case 'error':
        this._serverDone();
        if ((resp.error.code === 503 || resp.error.code === 504) && this._canResume()) {
          // Kafka unavailable for now: again, later
          this._suspend();
          this._resubscribeLater();
          break;
        }
        this._fail(new ServerError(resp.error.message, resp.error.code, resp.sequence), false);
        break;
      default:
        this._fail(new Error(`unexpected ${resp.type} answer to subscription ${this.sequence}`), true);
    }
  }

  // An ErrorResp to one of its credits: the server would stall it.
  _onCreditError(err) {
    this._fail(err, true);
  }

  // The socket closed.
  _onClosed(err) {
    this._serverGone = true;
    if (this._canResume()) {
      this._suspend();
      return;
    }
    this._fail(err, false);
  }

  // --- reconnect

  _canResume() {
    return this._reconnect !== null && !this._over && !this._stopped && !this.client._closing;
  }

  // The server has it no more: what is not handed out is dropped (it comes
  // again), and it waits for a socket to subscribe again on.
  _suspend() {
    this._serverDone();
    this._queue = [];
    this._head = 0;
    this._outstanding = 0;
    this._uncredited = 0;
    this._restarting = false;
    this._resuming = true;
    clearTimeout(this._startTimer);
    this.state = 'reconnecting';
  }

  // The socket stays: subscribe again on it after the delay (a closing
  // socket's new one does it on open instead).
  _resubscribeLater() {
    setTimeout(() => {
      if (this.client.isOpen) this._resubscribe();
    }, this._reconnect.delay);
  }

  // Subscribes again: each partition from its position, the others as at
  // first.
  _resubscribe() {
    if (!this._resuming || this._over || this._stopped) return;
    const first = this._command.subscribe;
    const partitions = [...this._pos];
    for (const [p, o] of first.partitions) {
      if (!this._pos.has(p)) partitions.push([p, o]);
    }
    let sequence;
    try {
      sequence = this.client._send({ subscribe: { ...first, partitions } }, this);
    } catch (err) {
      return;     // the socket is gone: its new one comes back here
    }
    this.sequence = sequence;
    this._serverGone = false;
    this._resuming = false;
    this._restarting = this._started;
    this._startTimeout();
  }

  // The first answer of a subscribe again: a partition not where it was is
  // a gap (the server jumped), one not seen before starts.
  _onRestarted(positions) {
    this._restarting = false;
    clearTimeout(this._startTimer);
    this.state = 'running';
    const moved = [];
    for (const { partition, offset } of positions) {
      const at = this._pos.get(partition);
      if (at === undefined) {
        this._setPos(partition, BigInt(offset));
        this._done.set(partition, BigInt(offset));
      } else if (at !== BigInt(offset)) {
        moved.push({ partition, offset });
      }
    }
    if (moved.length > 0) {
      this._push({ gap: moved });
      this._pump();
    }
  }

  // client.close(): the last commit, then the end.
  _clientClosing() {
    if (this._over) return;
    if (!this._stopped) {
      for (const [p, v] of this._pos) this._done.set(p, v);
      // at once, even when a commit is in flight: the socket closes next
      const offsets = this._uncommitted();
      if (this.autoCommit && offsets.length > 0) {
        this.client.commit(this.group, this.topic, offsets).catch(() => {});
      }
    }
    this._end('closed', []);
  }

  // --- inside

  _push(item) {
    this._queue.push(item);
  }

  _shift() {
    const item = this._queue[this._head++];
    if (this._head > 1024 && this._head * 2 > this._queue.length) {
      this._queue = this._queue.slice(this._head);
      this._head = 0;
    }
    return item;
  }

  _setPos(partition, offset) {
    this._pos.set(partition, offset);
    this.positions.set(partition, fromInt64(offset));
  }

  _onStarted(positions) {
    this._started = true;
    clearTimeout(this._startTimer);
    for (const { partition, offset } of positions) {
      this._setPos(partition, BigInt(offset));
      this._done.set(partition, BigInt(offset));
    }
    this.state = 'running';
    this._startedResolve(new Map(this.positions));
    if (this.autoCommit) {
      this._commitTimer = setInterval(() => {
        this._commitNow().catch((err) => this._report(err));
      }, this.autoCommit);
    }
  }

  // Hands out what is queued, as far as the application takes it.
  _pump() {
    if (this._pumping || this._busy) return;
    this._pumping = true;
    try {
      while (!this._stopped && this._head < this._queue.length) {
        const item = this._queue[this._head];
        // the iterator takes messages and gaps when it is asked for the next
        if (!this._onMessage && !this._waiter) break;
        if (item instanceof KafkaMessage) {
          this._shift();
          this._handOut(item);
          if (this._busy) break;
        } else {
          this._shift();
          this._gap(item.gap);
        }
      }
    } finally {
      this._pumping = false;
    }
  }

  _handOut(m) {
    const partition = m.partition;
    const next = BigInt(m.offset) + 1n;
    const position = this._pos.get(partition);
    if (position !== undefined && next <= position) {
      // never hand a message out twice, whatever the server sends
      this._consumed(1);
      return;
    }
    this._setPos(partition, next);

    if (!this._onMessage) {
      const waiter = this._waiter;
      this._waiter = null;
      this._lastHanded = [partition, next];
      this._consumed(1);
      waiter.resolve({ value: m, done: false });
      return;
    }

    let result;
    try {
      result = this._onMessage(m, this);
    } catch (err) {
      this._fail(err, true);
      return;
    }
    if (result && typeof result.then === 'function') {
      this._busy = true;
      result.then(() => {
        this._busy = false;
        if (!this._stopped) this._done.set(partition, next);
        this._consumed(1);
        this._pump();
      }, (err) => {
        this._busy = false;
        this._fail(err, true);
      });
      return;
    }
    this._done.set(partition, next);
    this._consumed(1);
  }

  _gap(positions) {
    const gaps = [];
    for (const { partition, offset } of positions) {
      const from = this._pos.get(partition);
      const to = BigInt(offset);
      this._setPos(partition, to);
      this._done.set(partition, to);
      gaps.push({ partition, from: from === undefined ? null : fromInt64(from), to: fromInt64(to) });
    }
    if (this._onGap) {
      try {
        this._onGap(gaps, this);
      } catch (err) {
        this._fail(err, true);
      }
    }
  }

  // n more messages consumed: grant credit when half the window is.
  _consumed(n) {
    if (this.window <= 0 || this._resuming || this._restarting) return;
    this._uncredited += n;
    if (this._stopped || this._uncredited < this._threshold) return;
    const messages = this._uncredited;
    this._uncredited = 0;
    this._outstanding -= messages;
    try {
      this.client._send({ credit: { subscription: this.sequence, messages } }, this);
    } catch (err) {
      // the socket is gone: its close ends the subscription
    }
  }

  // Commits what is processed and not committed yet; one commit at a time.
  _commitNow() {
    if (this._commitInFlight) {
      return this._commitInFlight.catch(() => {}).then(() => this._commitNow());
    }
    const offsets = this._uncommitted();
    if (offsets.length === 0 || this.client.closed) return Promise.resolve();
    const commit = this.client.commit(this.group, this.topic, offsets).then(() => {
      for (const [p, v] of offsets) this._committed.set(p, v);
    }).finally(() => {
      if (this._commitInFlight === commit) this._commitInFlight = null;
    });
    this._commitInFlight = commit;
    return commit;
  }

  // [partition, offset] of what is processed and not committed.
  _uncommitted() {
    return [...this._done].filter(([p, v]) => this._committed.get(p) !== v);
  }

  _report(err) {
    if (!(err instanceof ConnectionClosedError)) this.client._report(err);
  }

  // No more handing out, no more timers.
  _stop() {
    this._stopped = true;
    this._queue = [];
    this._head = 0;
    clearTimeout(this._startTimer);
    clearInterval(this._commitTimer);
  }

  // The server has no more of it: answers with its sequence stop.
  _serverDone() {
    this._serverGone = true;
    if (this.client._streams.get(this.sequence) === this) this.client._streams.delete(this.sequence);
  }

  // Fails it; tellServer: the server may still have it, unsubscribe there.
  _fail(err, tellServer) {
    // (while it unsubscribes, nothing can fail it any more)
    if (this._over || this._stopped) return;
    this.error = err;
    if (tellServer && !this._serverGone && !this._stopped && this.sequence !== null
        && !this.client.closed) {
      this.client.request({ unsubscribe: { subscription: this.sequence } })
        .catch(() => {})
        .then(() => this._serverDone());
    }
    this._end('failed', []);
  }

  // The end, once: the final positions, the promises, the callbacks.
  _end(reason, serverPositions) {
    if (this._over) return;
    const wasStopped = this._stopped;
    this._over = true;
    this.client._resumable.delete(this);
    this._stop();
    this.endReason = reason;
    this.state = reason === 'failed' ? 'failed' : 'ended';
    for (const { partition, offset } of serverPositions) {
      if (!this._pos.has(partition)) this._setPos(partition, BigInt(offset));
    }
    // the server ended it, or it failed: still store what was processed
    if (this.autoCommit && !wasStopped && (reason === 'server' || reason === 'failed')
        && this._started) {
      this._commitNow().catch((err) => this._report(err));
    }
    const positions = new Map(this.positions);
    if (!this._started) {
      this._startedReject(this.error
        || new Error(`subscription to ${this.topic} ended before it started`));
    }
    this._endedResolve(positions);

    const waiter = this._waiter;
    this._waiter = null;
    if (waiter) {
      if (this.error) {
        this._errorDelivered = true;
        waiter.reject(this.error);
      } else {
        waiter.resolve({ value: undefined, done: true });
      }
    }
    try {
      if (this.error) {
        if (this._onError) this._onError(this.error, this);
      } else if (this._onEnd) {
        this._onEnd(positions, this);
      }
    } catch (e) {
      console.error('subscription: onEnd/onError threw', e);
    }
  }
}
