// Unit tests of html/pubsub.js under Node.js: the protobuf codec against
// byte vectors (made with the reference protobuf library from
// proto/pubsub.proto), and the client and its fetch loop against a fake
// WebSocket.  Prints TAP.  Run: node t/browser/js-client-test.mjs

import assert from 'node:assert/strict';
import {
  encodeRequest, decodeResponse, PubSubClient, KafkaMessage,
  ServerError, ConnectionClosedError, RequestTimeoutError,
} from '../../html/pubsub.js';

// ---------------------------------------------------------------------------
// A minimal TAP producer

let count = 0;
let failed = 0;

function report(ok, name, err) {
  count++;
  console.log(`${ok ? 'ok' : 'not ok'} ${count} - ${name}`);
  if (!ok) {
    failed++;
    const text = err && err.stack ? err.stack : String(err);
    for (const line of text.split('\n')) console.log(`#   ${line}`);
  }
}

async function test(name, fn) {
  try {
    await fn();
    report(true, name);
  } catch (err) {
    report(false, name, err);
  }
}

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (text) => new Uint8Array(Buffer.from(text, 'hex'));
const text = (bytes) => Buffer.from(bytes).toString('utf8');
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// Codec: requests

await test('encode ping with sequence -1 (10-byte varint)', () => {
  assert.equal(hex(encodeRequest({ sequence: -1, ping: { state: 'hi' } })),
    '08ffffffffffffffffff018202040a026869');
});

await test('encode ping with empty state: the command is still present', () => {
  assert.equal(hex(encodeRequest({ sequence: 7, ping: {} })), '0807820200');
  assert.equal(hex(encodeRequest({ sequence: 7, ping: { state: new Uint8Array(0) } })),
    '0807820200');
});

await test('encode ping with binary state', () => {
  assert.equal(hex(encodeRequest({ sequence: 1, ping: { state: new Uint8Array([0, 255]) } })),
    '0801820204' + '0a0200ff');
});

await test('encode fetch with a large offset', () => {
  assert.equal(hex(encodeRequest({
    sequence: 300, fetch: { topic: 'demo', partition: 2, offset: 1234567890123 },
  })), '08ac028a020f0a0464656d6f100218cb89ec8ff723');
});

await test('encode fetch with BigInt arguments gives the same bytes', () => {
  assert.equal(hex(encodeRequest({
    sequence: 300n, fetch: { topic: 'demo', partition: 2n, offset: 1234567890123n },
  })), '08ac028a020f0a0464656d6f100218cb89ec8ff723');
});

await test('encode list offset -2 (earliest)', () => {
  assert.equal(hex(encodeRequest({
    sequence: 2, listOffset: { topic: 't', partition: 0, timestamp: -2 },
  })), '080292020e0a017418feffffffffffffffff01');
});

await test('encode list offset with negative partition (int32 sign-extended)', () => {
  assert.equal(hex(encodeRequest({
    sequence: 3, listOffset: { topic: 't', partition: -1, timestamp: -1 },
  })), '08039202190a017410ffffffffffffffffff0118ffffffffffffffffff01');
});

await test('encode int64 extremes (BigInt)', () => {
  assert.equal(hex(encodeRequest({ sequence: 2n ** 63n - 1n, empty: {} })),
    '08ffffffffffffffff7ffa0100');
  assert.equal(hex(encodeRequest({ sequence: -(2n ** 63n), empty: {} })),
    '0880808080808080808001fa0100');
});

await test('encode sequence 0: the field is left out', () => {
  assert.equal(hex(encodeRequest({ sequence: 0, ping: { state: 'x' } })), '820203' + '0a0178');
});

await test('encode a UTF-8 topic', () => {
  assert.equal(hex(encodeRequest({ sequence: 1, fetch: { topic: 'é', partition: 0, offset: 0 } })),
    '08018a02040a02c3a9');
});

await test('encode rejects bad arguments', () => {
  assert.throws(() => encodeRequest({ sequence: 1 }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, ping: {}, empty: {} }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1.5, ping: {} }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 2n ** 63n, ping: {} }), RangeError);
  assert.throws(() => encodeRequest({
    sequence: 1, fetch: { topic: 't', partition: 2 ** 31, offset: 0 },
  }), RangeError);
});

// ---------------------------------------------------------------------------
// Codec: responses

await test('decode a fetch response with two messages', () => {
  const r = decodeResponse(unhex('08058a022c0a17080e10fbd095ffbc311a016b220974657374'
    + '6d736731350a11080f10fcd095ffbc31220668c3a96c6c6f'));
  assert.equal(r.sequence, 5);
  assert.equal(r.type, 'fetch');
  const [a, b] = r.fetch.messages;
  assert.equal(r.fetch.messages.length, 2);
  assert.ok(a instanceof KafkaMessage);
  assert.equal(a.offset, 14);
  assert.equal(a.timestamp, 1700000000123);
  assert.equal(hex(a.key), '6b');
  assert.equal(a.keyText, 'k');
  assert.equal(text(a.value), 'testmsg15');
  assert.equal(a.valueText, 'testmsg15');
  assert.equal(b.offset, 15);
  assert.equal(b.timestamp, 1700000000124);
  assert.equal(b.key.length, 0);
  assert.equal(b.keyText, '');
  assert.equal(b.valueText, 'héllo');
});

await test('decode an empty fetch response', () => {
  const r = decodeResponse(unhex('08088a0200'));
  assert.deepEqual({ sequence: r.sequence, type: r.type, messages: r.fetch.messages },
    { sequence: 8, type: 'fetch', messages: [] });
});

await test('decode an error response', () => {
  const r = decodeResponse(unhex('0809fa014b12496661696c656420746f206665746368206d6573'
    + '736167652c20746f7069633a20742c20706172746974696f6e3a20302c206572723a204f46'
    + '465345545f4f55545f4f465f52414e4745'));
  assert.equal(r.sequence, 9);
  assert.equal(r.type, 'error');
  assert.deepEqual(r.error, {
    code: 0,
    message: 'failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE',
  });
});

await test('decode a pong with sequence -1', () => {
  const r = decodeResponse(unhex('08ffffffffffffffffff018202050a03616263'));
  assert.equal(r.sequence, -1);
  assert.equal(r.type, 'pong');
  assert.equal(text(r.pong.state), 'abc');
});

await test('decode list offset -1, and one past 2^53 as BigInt', () => {
  assert.equal(decodeResponse(unhex('080492020b08ffffffffffffffffff01')).listOffset.offset, -1);
  const big = decodeResponse(unhex('080492020a08808080808080808010'));
  assert.equal(big.listOffset.offset, 2n ** 60n);
  assert.equal(typeof big.listOffset.offset, 'bigint');
});

await test('decode a sequence of 2^63-1 as BigInt', () => {
  const r = decodeResponse(unhex('08ffffffffffffffff7f820200'));
  assert.equal(r.sequence, 2n ** 63n - 1n);
  assert.equal(r.type, 'pong');
});

await test('decode an ArrayBuffer', () => {
  const bytes = unhex('0807820200');
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const r = decodeResponse(buf);
  assert.equal(r.sequence, 7);
  assert.equal(r.type, 'pong');
});

await test('decode skips unknown fields of every wire type', () => {
  // pong "abc" with, around it: field 2 varint, field 3 fixed64, field 4
  // length-delimited, field 5 fixed32, field 40 (unknown oneof member), and
  // inside the pong a field 9 varint
  const r = decodeResponse(unhex('0807' + '1001' + '190102030405060708' + '22026869'
    + '2d01020304' + 'c202020000' + '820207' + '0a03616263' + '4801'));
  assert.equal(r.sequence, 7);
  assert.equal(r.type, 'pong');
  assert.equal(text(r.pong.state), 'abc');
});

await test('decode: the last oneof member wins', () => {
  const r = decodeResponse(unhex('0801' + '820200' + '92020208' + '05'));
  assert.equal(r.type, 'listOffset');
  assert.equal(r.pong, undefined);
  assert.equal(r.listOffset.offset, 5);
});

await test('decode rejects malformed input', () => {
  assert.throws(() => decodeResponse(unhex('08')), /malformed/);               // truncated varint
  assert.throws(() => decodeResponse(unhex('08ffffffffffffffffffff01')), /malformed/);  // 11 bytes
  assert.throws(() => decodeResponse(unhex('8a0205')), /malformed/);           // length past the end
  assert.throws(() => decodeResponse(unhex('8a02020a05')), /malformed/);       // nested past its end
  assert.throws(() => decodeResponse(unhex('0b')), /malformed/);               // group wire type
  assert.throws(() => decodeResponse(unhex('0a00')), /malformed/);             // sequence as bytes
  assert.throws(() => decodeResponse(unhex('00')), /malformed/);               // field 0
});

// ---------------------------------------------------------------------------
// The client, on a fake WebSocket

class FakeSocket {
  static last = null;

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.binaryType = 'blob';
    FakeSocket.last = this;
  }

  send(bytes) {
    if (this.readyState !== 1) throw new Error(`send in state ${this.readyState}`);
    this.sent.push(bytes);
  }

  close(code = 1000, reason = '') {
    this.closedWith = { code, reason };
    this.drop(code, reason);
  }

  // test side
  open() {
    this.readyState = 1;
    this.onopen({});
  }

  drop(code = 1006, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose({ code, reason, wasClean: code !== 1006 });
  }

  // a server answer: bytes as hex
  answer(hexText) {
    const bytes = unhex(hexText);
    this.onmessage({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });
  }

  // the requests sent so far as { sequence, hex } (sequence from the bytes)
  requests() {
    return this.sent.map((b) => ({ sequence: b[0] === 0x08 ? b[1] : 0, hex: hex(b) }));
  }
}

// Encoders for answers, from the vectors' building blocks (small sequences
// and values only: one-byte varints).
const v1 = (n) => n.toString(16).padStart(2, '0');
const pong = (seq, state) => `08${v1(seq)}8202${v1(state.length + 2)}0a${v1(state.length)}${hex(Buffer.from(state))}`;
const listOffsetAnswer = (seq, off) => `08${v1(seq)}92020208${v1(off)}`;
const errorAnswer = (seq, msg) => {
  const m = hex(Buffer.from(msg));
  return `08${v1(seq)}fa01${v1(msg.length + 2)}12${v1(msg.length)}${m}`;
};
const kafkaMessage = (off, value) => {
  const inner = `08${v1(off)}1001` + `22${v1(value.length)}${hex(Buffer.from(value))}`;
  return `0a${v1(inner.length / 2)}${inner}`;
};
const fetchAnswer = (seq, msgs) => {
  const body = msgs.map(([o, v]) => kafkaMessage(o, v)).join('');
  return `08${v1(seq)}8a02${v1(body.length / 2)}${body}`;
};

function newClient(options = {}) {
  const client = new PubSubClient('ws://fake/kafka', { WebSocket: FakeSocket, ...options });
  return [client, FakeSocket.last];
}

await test('client: binary socket, requests queued until open', async () => {
  const [client, ws] = newClient();
  assert.equal(ws.binaryType, 'arraybuffer');
  const p = client.ping('abc');
  assert.equal(ws.sent.length, 0);
  ws.open();
  await client.opened;
  assert.equal(ws.sent.length, 1);
  assert.equal(hex(ws.sent[0]), '08018202050a03616263');
  ws.answer(pong(1, 'abc'));
  assert.equal(text(await p), 'abc');
  client.close();
});

await test('client: answers matched by sequence, out of order', async () => {
  const [client, ws] = newClient();
  ws.open();
  const a = client.listOffset('t', 0, -1);
  const b = client.listOffset('t', 0, -2);
  const c = client.fetch('t', 0, 3);
  assert.deepEqual(ws.requests().map((r) => r.sequence), [1, 2, 3]);
  assert.equal(ws.requests()[1].hex, '080292020e0a017418feffffffffffffffff01');
  ws.answer(fetchAnswer(3, [[3, 'm3'], [4, 'm4']]));
  ws.answer(listOffsetAnswer(2, 0));
  ws.answer(listOffsetAnswer(1, 5));
  assert.equal(await a, 5);
  assert.equal(await b, 0);
  const msgs = await c;
  assert.deepEqual(msgs.map((m) => [m.offset, m.timestamp, m.valueText]),
    [[3, 1, 'm3'], [4, 1, 'm4']]);
  client.close();
});

await test('client: ErrorResp rejects with ServerError carrying the message', async () => {
  const [client, ws] = newClient();
  ws.open();
  const p = client.fetch('nope', 0, 0);
  const msg = 'failed to fetch message, topic: nope, partition: 0, err: UNKNOWN_TOPIC_OR_PART';
  ws.answer(errorAnswer(1, msg));
  await assert.rejects(p, (err) => err instanceof ServerError && err.message === msg
    && err.code === 0 && err.sequence === 1);
  // the client goes on
  const q = client.ping('x');
  ws.answer(pong(2, 'x'));
  assert.equal(text(await q), 'x');
  client.close();
});

await test('client: an answer of the wrong type rejects', async () => {
  const [client, ws] = newClient();
  ws.open();
  const p = client.fetch('t', 0, 0);
  ws.answer(pong(1, ''));
  await assert.rejects(p, /unexpected pong answer/);
  client.close();
});

await test('client: unmatched answers and garbage become error events', async () => {
  const [client, ws] = newClient();
  ws.open();
  const events = [];
  client.addEventListener('error', (e) => events.push(e.detail));
  ws.answer(errorAnswer(0, 'wrong command'));
  ws.answer('0a');
  ws.onmessage({ data: 'text' });
  assert.equal(events.length, 3);
  assert.ok(events[0] instanceof ServerError);
  assert.equal(events[0].message, 'wrong command');
  assert.match(events[1].message, /malformed/);
  assert.match(events[2].message, /text message/);
  client.close();
});

await test('client: a closed socket rejects pending and later requests', async () => {
  const [client, ws] = newClient();
  ws.open();
  const closes = [];
  client.addEventListener('close', (e) => closes.push(e.detail));
  const a = client.fetch('t', 0, 0);
  const b = client.ping('x');
  ws.drop(1001, 'going away');
  await assert.rejects(a, (err) => err instanceof ConnectionClosedError && err.code === 1001);
  await assert.rejects(b, ConnectionClosedError);
  await assert.rejects(client.ping('y'), ConnectionClosedError);
  assert.equal(client.isOpen, false);
  assert.deepEqual(closes, [{ code: 1001, reason: 'going away', wasClean: true }]);
});

await test('client: a socket that never opens rejects opened and the queue', async () => {
  const [client, ws] = newClient();
  const p = client.ping('x');
  ws.drop(1006);
  await assert.rejects(client.opened, ConnectionClosedError);
  await assert.rejects(p, ConnectionClosedError);
  assert.equal(ws.sent.length, 0);
});

await test('client: close() rejects at once and closes the socket', async () => {
  const [client, ws] = newClient();
  ws.open();
  const p = client.fetch('t', 0, 0);
  client.close();
  await assert.rejects(p, ConnectionClosedError);
  assert.deepEqual(ws.closedWith, { code: 1000, reason: '' });
});

await test('client: requestTimeout rejects; a late answer is reported, not resolved', async () => {
  const [client, ws] = newClient({ requestTimeout: 30 });
  ws.open();
  const errors = [];
  client.addEventListener('error', (e) => errors.push(e.detail));
  await assert.rejects(client.ping('x'), RequestTimeoutError);
  ws.answer(pong(1, 'x'));
  assert.equal(errors.length, 1);
  client.close();
});

await test('client: PubSubClient.connect resolves once open', async () => {
  const p = PubSubClient.connect('ws://fake/kafka', { WebSocket: FakeSocket });
  FakeSocket.last.open();
  const client = await p;
  assert.equal(client.isOpen, true);
  client.close();
});

// ---------------------------------------------------------------------------
// The fetch loop

// Waits until the fake socket has n requests; returns the last one.
async function request(ws, n) {
  for (let i = 0; i < 200 && ws.sent.length < n; i++) await tick(1);
  assert.equal(ws.sent.length, n, `request ${n} was sent`);
  return ws.requests()[n - 1];
}

await test('tail: from earliest, loops at the offset after the last message', async () => {
  const [client, ws] = newClient();
  ws.open();
  const got = [];
  const batches = [];
  const tail = client.tail('t', 0, {
    from: 'earliest',
    onMessage: (m) => got.push(`${m.offset}=${m.valueText}`),
    onBatch: (msgs) => batches.push(msgs.length),
  });
  assert.equal(tail.state, 'starting');
  assert.equal(tail.nextOffset, null);
  let r = await request(ws, 1);
  assert.equal(r.hex, '080192020e0a017418feffffffffffffffff01');   // list offset -2
  ws.answer(listOffsetAnswer(1, 5));
  r = await request(ws, 2);
  assert.equal(r.hex, hex(encodeRequest({
    sequence: 2, fetch: { topic: 't', partition: 0, offset: 5 } })));
  assert.equal(tail.state, 'running');
  ws.answer(fetchAnswer(2, [[5, 'a'], [6, 'b']]));
  r = await request(ws, 3);
  assert.equal(r.hex, hex(encodeRequest({ sequence: 3, fetch: { topic: 't', partition: 0, offset: 7 } })));
  ws.answer(fetchAnswer(3, []));                 // the end: asks again
  r = await request(ws, 4);
  assert.equal(r.hex, hex(encodeRequest({ sequence: 4, fetch: { topic: 't', partition: 0, offset: 7 } })));
  // an answer starting too early (never from this server) gives no duplicate
  ws.answer(fetchAnswer(4, [[6, 'b'], [7, 'c']]));
  await request(ws, 5);
  assert.deepEqual(got, ['5=a', '6=b', '7=c']);
  assert.deepEqual(batches, [2, 0, 2]);
  assert.equal(tail.nextOffset, 8);
  tail.stop();
  assert.equal(tail.state, 'stopped');
  ws.answer(fetchAnswer(5, [[8, 'd']]));           // dropped
  await tail.done;
  assert.deepEqual(got, ['5=a', '6=b', '7=c']);
  client.close();
});

await test('tail: from latest asks for the end offset', async () => {
  const [client, ws] = newClient();
  ws.open();
  const tail = client.tail('t', 1, { onMessage: () => {} });
  const r = await request(ws, 1);
  assert.equal(r.hex, hex(encodeRequest({
    sequence: 1, listOffset: { topic: 't', partition: 1, timestamp: -1 } })));
  ws.answer(listOffsetAnswer(1, 9));
  await request(ws, 2);
  assert.equal(tail.nextOffset, 9);
  tail.stop();
  client.close();
});

await test('tail: pause holds messages back, resume hands them out', async () => {
  const [client, ws] = newClient();
  ws.open();
  const got = [];
  const tail = client.tail('t', 0, { from: 3, onMessage: (m) => got.push(m.offset) });
  let r = await request(ws, 1);
  assert.equal(r.hex, hex(encodeRequest({ sequence: 1, fetch: { topic: 't', partition: 0, offset: 3 } })));
  tail.pause();
  assert.equal(tail.state, 'paused');
  ws.answer(fetchAnswer(1, [[3, 'x'], [4, 'y']]));
  await tick(20);
  assert.deepEqual(got, []);
  assert.equal(ws.sent.length, 1, 'no fetch while paused');
  tail.resume();
  assert.equal(tail.state, 'running');
  r = await request(ws, 2);
  assert.deepEqual(got, [3, 4]);
  assert.equal(r.hex, hex(encodeRequest({ sequence: 2, fetch: { topic: 't', partition: 0, offset: 5 } })));
  tail.stop();
  client.close();
});

await test('tail: an error ends the loop, nextOffset is where to go on', async () => {
  const [client, ws] = newClient();
  ws.open();
  const got = [];
  const errors = [];
  const tail = client.tail('t', 0, {
    from: 10n,
    onMessage: (m) => got.push(m.offset),
    onError: (err, t) => errors.push([err, t.nextOffset]),
  });
  await request(ws, 1);
  ws.answer(fetchAnswer(1, [[10, 'x']]));
  await request(ws, 2);
  ws.drop(1006);
  await tail.done;
  assert.deepEqual(got, [10]);
  assert.equal(tail.state, 'failed');
  assert.equal(errors.length, 1);
  assert.ok(errors[0][0] instanceof ConnectionClosedError);
  assert.equal(errors[0][1], 11);
  assert.equal(tail.error, errors[0][0]);
});

await test('tail: a server error on the start look-up', async () => {
  const [client, ws] = newClient();
  ws.open();
  const errors = [];
  const tail = client.tail('nope', 0, {
    onMessage: () => {},
    onError: (err) => errors.push(err.message),
  });
  await request(ws, 1);
  ws.answer(errorAnswer(1, 'failed to list offset, topic: nope'));
  await tail.done;
  assert.deepEqual(errors, ['failed to list offset, topic: nope']);
  assert.equal(tail.nextOffset, null);
  client.close();
});

await test('tail: quick empty answers do not make it spin', async () => {
  const [client, ws] = newClient();
  ws.open();
  const tail = client.tail('t', 0, { from: 0, onMessage: () => {} });
  await request(ws, 1);
  const start = Date.now();
  ws.answer(fetchAnswer(1, []));
  await request(ws, 2);
  assert.ok(Date.now() - start >= 80, `waited ${Date.now() - start} ms`);
  tail.stop();
  client.close();
});

await test('tail: onMessage is required', () => {
  const [client] = newClient();
  assert.throws(() => client.tail('t', 0, {}), TypeError);
  client.close();
});

console.log(`1..${count}`);
process.exitCode = failed ? 1 : 0;
