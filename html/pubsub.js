// pubsub.js: a browser client for ngx_http_pubsub_kafka_module (and any
// server speaking Apache APISIX's pubsub protocol, proto/pubsub.proto).
//
// A plain ES module: no build step, no dependencies.  It works in browsers
// and in Node.js (pass a WebSocket implementation in the options when there
// is no global one).
//
//   import { PubSubClient } from './pubsub.js';
//
//   const client = new PubSubClient('ws://127.0.0.1:8080/kafka');
//   const end = await client.listOffset('demo', 0, -1);
//   const tail = client.tail('demo', 0, {
//     from: 'latest',
//     onMessage: (m) => console.log(m.offset, m.keyText, m.valueText),
//     onError: (err) => console.error(err.message),
//   });
//   ...
//   tail.stop();
//   client.close();
//
// Numbers: the protocol's int64 fields (sequence, offset, timestamp) are
// handled as BigInt inside this module.  They are handed out as Number when
// the value is a safe integer (|v| <= 2^53 - 1, which covers every real
// Kafka offset and millisecond timestamp) and as BigInt otherwise.  Every
// function taking an int64 accepts a Number (an integer) or a BigInt.
//
// The file has three parts: the protobuf codec (encodeRequest,
// decodeResponse), the client (PubSubClient) and the fetch loop (Tail).

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

const RESP_ERROR = 31;
const RESP_PONG = 32;
const RESP_FETCH = 33;
const RESP_LIST_OFFSET = 34;

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

  // An int32 or int64 field (value is a BigInt).
  int(field, value) {
    if (value === 0n) return;
    this.tag(field, WIRE_VARINT);
    this.varint(value);
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

// encodeRequest(request): the bytes of a PubSubReq.  request is
//   { sequence, ping: { state } }
//   { sequence, listOffset: { topic, partition, timestamp } }
//   { sequence, fetch: { topic, partition, offset } }
//   { sequence, empty: {} }
// with exactly one command; sequence, timestamp and offset are int64,
// partition int32 (Number or BigInt); state is a string or bytes.
export function encodeRequest(request) {
  const commands = ['ping', 'listOffset', 'fetch', 'empty']
    .filter((name) => request[name] !== undefined);
  if (commands.length !== 1) {
    throw new TypeError('a request needs exactly one of ping, listOffset, fetch, empty');
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

// A message of a KafkaFetchResp.  key and value are Uint8Array views into
// the received WebSocket message; keyText and valueText decode them as
// UTF-8 (invalid sequences become U+FFFD).
export class KafkaMessage {
  constructor(offset, timestamp, key, value) {
    this.offset = offset;       // Number (or BigInt past 2^53)
    this.timestamp = timestamp; // milliseconds since the epoch, as the broker has it
    this.key = key;             // Uint8Array, empty when the message has no key
    this.value = value;         // Uint8Array
  }

  get keyText() {
    return utf8Decoder.decode(this.key);
  }

  get valueText() {
    return utf8Decoder.decode(this.value);
  }
}

function decodeKafkaMessage(r) {
  let offset = 0n;
  let timestamp = 0n;
  let key = new Uint8Array(0);
  let value = new Uint8Array(0);
  while (!r.done()) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1: r.expect(field, wt, WIRE_VARINT); offset = r.int64(); break;
      case 2: r.expect(field, wt, WIRE_VARINT); timestamp = r.int64(); break;
      case 3: r.expect(field, wt, WIRE_LEN); key = r.bytes(); break;
      case 4: r.expect(field, wt, WIRE_LEN); value = r.bytes(); break;
      default: r.skip(wt);
    }
  }
  return new KafkaMessage(fromInt64(offset), fromInt64(timestamp), key, value);
}

// decodeResponse(bytes): a PubSubResp (bytes: Uint8Array or ArrayBuffer) as
//   { sequence, type: 'error',      error: { code, message } }
//   { sequence, type: 'pong',       pong: { state } }            state: Uint8Array
//   { sequence, type: 'fetch',      fetch: { messages } }        KafkaMessage[]
//   { sequence, type: 'listOffset', listOffset: { offset } }
//   { sequence, type: 'none' }     (no response member we know)
// Throws an Error on malformed input.
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
    if (field < RESP_ERROR || field > RESP_LIST_OFFSET) {
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
      default: {
        let offset = 0n;
        while (!m.done()) {
          const [f, t] = m.tag();
          if (f === 1) { m.expect(f, t, WIRE_VARINT); offset = m.int64(); }
          else m.skip(t);
        }
        resp.type = 'listOffset';
        resp.listOffset = { offset: fromInt64(offset) };
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
export class PubSubClient extends EventTarget {
  constructor(url, options = {}) {
    super();
    const WS = options.WebSocket || globalThis.WebSocket;
    if (!WS) throw new Error('no WebSocket implementation: pass options.WebSocket');

    this.url = url;
    this.requestTimeout = options.requestTimeout ?? 30000;
    this.closed = false;        // true once the socket closed
    this.closeCode = null;
    this._sequence = 0;         // the last sequence used
    this._pending = new Map();  // sequence -> { resolve, reject, timer }
    this._queue = [];           // requests made while connecting

    // resolves on open, rejects (ConnectionClosedError) if it closes first
    this.opened = new Promise((resolve, reject) => {
      this._openResolve = resolve;
      this._openReject = reject;
    });
    // an unobserved rejection of "opened" is not an error of the caller
    this.opened.catch(() => {});

    const ws = new WS(url);
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    ws.onopen = () => this._onOpen();
    ws.onmessage = (event) => this._onMessage(event.data);
    ws.onclose = (event) => this._onClose(event.code, event.reason, event.wasClean);
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
  // ConnectionClosedError.
  close(code = 1000, reason = '') {
    if (this.closed) return;
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

  // request(command): sends { ping | listOffset | fetch | empty: {...} }
  // (see encodeRequest; the client sets the sequence) and returns a Promise
  // of the decoded response (see decodeResponse).  An ErrorResp rejects it
  // with ServerError; an answer of another type than the command's with an
  // Error.
  request(command) {
    if (this.closed) {
      return Promise.reject(new ConnectionClosedError(
        `connection to ${this.url} is closed`, this.closeCode ?? 1006));
    }
    const sequence = ++this._sequence;
    let bytes;
    try {
      bytes = encodeRequest({ ...command, sequence });
    } catch (err) {
      return Promise.reject(err);
    }
    const want = Object.keys(command).find((k) =>
      ['ping', 'listOffset', 'fetch', 'empty'].includes(k));
    const expected = { ping: 'pong', listOffset: 'listOffset', fetch: 'fetch' }[want];

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
      if (this._ws.readyState === CONNECTING) {
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

  _onOpen() {
    if (this.closed) return;
    for (const bytes of this._queue) this._ws.send(bytes);
    this._queue = [];
    this._openResolve();
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

    const entry = this._pending.get(resp.sequence);
    if (!entry) {
      // e.g. "wrong command" (sequence 0), or an answer after its timeout
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
    this.closed = true;
    this.closeCode = code;
    this._queue = [];
    const err = new ConnectionClosedError(
      `connection to ${this.url} closed (${code}${reason ? ` ${reason}` : ''})`, code, reason);
    this._openReject(err);
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.dispatchEvent(makeEvent('close', { code, reason, wasClean }));
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
