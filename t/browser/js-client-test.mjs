// Unit tests of html/pubsub.js under Node.js: the protobuf codec against
// byte vectors (made with the reference protobuf library from
// proto/pubsub.proto), and the client, its fetch loop and its
// subscriptions against a fake WebSocket.  Prints TAP.  Run: node
// t/browser/js-client-test.mjs

import assert from 'node:assert/strict';
import {
  encodeRequest, decodeResponse, PubSubClient, KafkaMessage, KafkaHeader,
  Subscription, ServerError, ConnectionClosedError, RequestTimeoutError,
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

// ---------------------------------------------------------------------------
// The extension's codec.  Each vector is what
//   protoc --encode=PubSubReq (or PubSubResp) -Iproto proto/pubsub.proto
// gives for the text format in the comment.

await test('encode subscribe: all partitions from the earliest', () => {
  // sequence: 1 cmd_kafka_subscribe { topic: "demo" all_partitions: true start: -2 }
  const want = '0801aa06130a0464656d6f180120feffffffffffffffff01';
  assert.equal(hex(encodeRequest({
    sequence: 1, subscribe: { topic: 'demo', allPartitions: true, start: -2 },
  })), want);
  assert.equal(hex(encodeRequest({
    sequence: 1n, subscribe: { topic: 'demo', partitions: [], allPartitions: true, start: -2n, window: 0 },
  })), want);
});

await test('encode subscribe: partitions, start time, group, filter, window', () => {
  // sequence: 2 cmd_kafka_subscribe { topic: "t"
  //   partitions { partition: 0 offset: 5 } partitions { partition: 2 offset: -1 }
  //   partitions {} start: 1700000000000 group: "g"
  //   filter { key: "k" headers { key: "h" value: "v" } headers { key: "b" value: "\000\377" } }
  //   window: 100 }
  const want = '0802aa063a0a017412021005120d080210ffffffffffffffffff0112002080d095ffbc31'
    + '2a016732140a016b12060a016812017612070a0162120200ff3864';
  const rest = {
    start: 1700000000000, group: 'g', window: 100,
    filter: { key: 'k', headers: [{ key: 'h', value: 'v' }, { key: 'b', value: new Uint8Array([0, 255]) }] },
  };
  const forms = [
    [{ partition: 0, offset: 5 }, { partition: 2, offset: -1 }, { partition: 0 }],
    [[0, 5], [2n, -1n], [0, 0]],
    new Map([[0, 5], [2, -1]]),
  ];
  for (const partitions of forms.slice(0, 2)) {
    assert.equal(hex(encodeRequest({ sequence: 2, subscribe: { topic: 't', partitions, ...rest } })), want);
  }
  // a Map (and an object) cannot repeat partition 0: the vector less its "partitions {}"
  const noEmpty = want.replace('0802aa063a', '0802aa0638').replace('12002080', '2080');
  assert.equal(hex(encodeRequest({ sequence: 2, subscribe: { topic: 't', partitions: forms[2], ...rest } })), noEmpty);
  assert.equal(hex(encodeRequest({ sequence: 2, subscribe: { topic: 't', partitions: { 2: -1, 0: 5 }, ...rest } })), noEmpty);
  // headers as an object or a Map give the same bytes
  for (const headers of [{ h: 'v', b: new Uint8Array([0, 255]) },
    new Map([['h', 'v'], ['b', new Uint8Array([0, 255])]]), [['h', 'v'], ['b', new Uint8Array([0, 255])]]]) {
    assert.equal(hex(encodeRequest({ sequence: 2, subscribe: {
      topic: 't', partitions: forms[0], ...rest, filter: { key: 'k', headers } } })), want);
  }
});

await test('encode unsubscribe and credit', () => {
  // sequence: 3 cmd_kafka_unsubscribe { subscription: 2 }
  assert.equal(hex(encodeRequest({ sequence: 3, unsubscribe: { subscription: 2 } })), '0803b206020802');
  // sequence: 4 cmd_kafka_credit { subscription: 2 messages: 50 }
  assert.equal(hex(encodeRequest({ sequence: 4, credit: { subscription: 2, messages: 50 } })),
    '0804ba060408021032');
});

await test('encode produce: partition 0 is sent (oneof), key, headers, timestamp', () => {
  // sequence: 5 cmd_kafka_produce { topic: "t" partition: 0 key: "k" value: "v"
  //   headers { key: "a" value: "1" } timestamp: 1700000000000 }
  const want = '0805c2061a0a017410001a016b2201762a060a01611201313080d095ffbc31';
  assert.equal(hex(encodeRequest({ sequence: 5, produce: {
    topic: 't', partition: 0, key: 'k', value: 'v', headers: { a: '1' }, timestamp: 1700000000000,
  } })), want);
  assert.equal(hex(encodeRequest({ sequence: 5, produce: {
    topic: 't', partition: 0n, key: new Uint8Array([0x6b]), value: new Uint8Array([0x76]).buffer,
    headers: [{ key: 'a', value: '1' }], timestamp: 1700000000000n,
  } })), want);
});

await test('encode produce: no partition (the partitioner chooses), UTF-8 value', () => {
  // sequence: 6 cmd_kafka_produce { topic: "t" value: "h\303\251" }
  assert.equal(hex(encodeRequest({ sequence: 6, produce: { topic: 't', value: 'hé' } })),
    '0806c206080a0174220368c3a9');
  assert.equal(hex(encodeRequest({ sequence: 6, produce: { topic: 't', partition: null, value: 'hé' } })),
    '0806c206080a0174220368c3a9');
  // sequence: 7 cmd_kafka_produce { topic: "t" partition: 3 }
  assert.equal(hex(encodeRequest({ sequence: 7, produce: { topic: 't', partition: 3 } })),
    '0807c206050a01741003');
});

await test('encode commit; committed with packed partitions, and with none', () => {
  // sequence: 8 cmd_kafka_commit { group: "g" topic: "t"
  //   offsets { partition: 0 offset: 17 } offsets { partition: 1 offset: 0 } }
  const commit = '0808ca060e0a01671201741a0210111a020801';
  assert.equal(hex(encodeRequest({ sequence: 8, commit: {
    group: 'g', topic: 't', offsets: [{ partition: 0, offset: 17 }, { partition: 1, offset: 0 }] } })), commit);
  assert.equal(hex(encodeRequest({ sequence: 8, commit: {
    group: 'g', topic: 't', offsets: new Map([[0, 17], [1, 0]]) } })), commit);
  assert.equal(hex(encodeRequest({ sequence: 8, commit: {
    group: 'g', topic: 't', offsets: { 0: 17, 1: 0 } } })), commit);
  // sequence: 9 cmd_kafka_committed { group: "g" topic: "t" partitions: [0, 1, 300] }
  assert.equal(hex(encodeRequest({ sequence: 9, committed: {
    group: 'g', topic: 't', partitions: [0, 1, 300] } })), '0809d2060c0a01671201741a040001ac02');
  // sequence: 10 cmd_kafka_committed { group: "g" topic: "t" }
  assert.equal(hex(encodeRequest({ sequence: 10, committed: { group: 'g', topic: 't' } })),
    '080ad206060a0167120174');
  assert.equal(hex(encodeRequest({ sequence: 10, committed: { group: 'g', topic: 't', partitions: [] } })),
    '080ad206060a0167120174');
});

await test('encode rejects bad arguments of the new commands', () => {
  assert.throws(() => encodeRequest({ sequence: 1, subscribe: { topic: 't', window: 2 ** 31 } }), RangeError);
  assert.throws(() => encodeRequest({ sequence: 1, subscribe: { topic: 't', partitions: [{ offset: 1 }] } }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, subscribe: { topic: 't', partitions: 3 } }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, produce: { topic: 't', headers: [{ key: 1, value: 'x' }] } }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, produce: { topic: 't', headers: 'a=b' } }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, produce: { topic: 't', value: 5 } }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, produce: { topic: 't', partition: 1.5 } }), TypeError);
  assert.throws(() => encodeRequest({ sequence: 1, committed: { group: 'g', topic: 't', partitions: [2 ** 31] } }), RangeError);
  assert.throws(() => encodeRequest({ sequence: 1, credit: {}, unsubscribe: {} }), TypeError);
});

await test('decode subscribe answers: positions, ended, empty', () => {
  // sequence: 1 kafka_subscribe_resp { positions { partition: 0 offset: 30 }
  //   positions { partition: 1 offset: 12 } positions { partition: 2 } }
  let r = decodeResponse(unhex('0801aa060e0a02101e0a040801100c0a020802'));
  assert.deepEqual(r, { sequence: 1, type: 'subscribe', subscribe: {
    positions: [{ partition: 0, offset: 30 }, { partition: 1, offset: 12 }, { partition: 2, offset: 0 }],
    ended: false } });
  // sequence: 3 kafka_subscribe_resp { positions { partition: 0 offset: 31 } ended: true }
  r = decodeResponse(unhex('0803aa06060a02101f1001'));
  assert.deepEqual(r.subscribe, { positions: [{ partition: 0, offset: 31 }], ended: true });
  // sequence: 3 kafka_subscribe_resp { }
  r = decodeResponse(unhex('0803aa0600'));
  assert.deepEqual(r.subscribe, { positions: [], ended: false });
});

await test('decode produce, commit and committed answers', () => {
  // sequence: 5 kafka_produce_resp { partition: 2 offset: 17 timestamp: 1700000000123 }
  assert.deepEqual(decodeResponse(unhex('0805c2060b0802101118fbd095ffbc31')),
    { sequence: 5, type: 'produce', produce: { partition: 2, offset: 17, timestamp: 1700000000123 } });
  // sequence: 5 kafka_produce_resp { }
  assert.deepEqual(decodeResponse(unhex('0805c20600')).produce, { partition: 0, offset: 0, timestamp: 0 });
  // sequence: 8 kafka_commit_resp { }
  assert.deepEqual(decodeResponse(unhex('0808ca0600')), { sequence: 8, type: 'commit', commit: {} });
  // sequence: 9 kafka_committed_resp { offsets { partition: 0 offset: 17 }
  //   offsets { partition: 1 offset: -1 } }
  assert.deepEqual(decodeResponse(unhex('0809d206130a0210110a0d080110ffffffffffffffffff01')),
    { sequence: 9, type: 'committed', committed: { offsets: [
      { partition: 0, offset: 17 }, { partition: 1, offset: -1 }] } });
});

await test('decode messages with partition and headers', () => {
  // sequence: 1 kafka_fetch_resp { messages { offset: 14 timestamp: 1700000000123 key: "k"
  //   value: "v" headers { key: "trace" value: "abc" } headers { key: "bin" value: "\377\000" }
  //   headers { key: "e" } partition: 2 } messages { offset: 15 partition: 2 } }
  const r = decodeResponse(unhex('08018a02370a2f080e10fbd095ffbc311a016b2201762a0c0a0574726163'
    + '6512036162632a090a0362696e1202ff002a030a016530020a04080f3002'));
  const [a, b] = r.fetch.messages;
  assert.equal(a.partition, 2);
  assert.equal(a.offset, 14);
  assert.equal(a.valueText, 'v');
  assert.deepEqual(a.headers.map((h) => [h.key, hex(h.value), h.valueText]),
    [['trace', '616263', 'abc'], ['bin', 'ff00', '\ufffd\0'], ['e', '', '']]);
  assert.ok(a.headers[0] instanceof KafkaHeader);
  assert.equal(hex(a.header('bin')), 'ff00');
  assert.equal(a.header('nope'), undefined);
  assert.equal(b.partition, 2);
  assert.equal(b.offset, 15);
  assert.deepEqual(b.headers, []);
  // an APISIX-style message: partition 0, no headers
  const old = decodeResponse(unhex('08088a02040a02080e')).fetch.messages[0];
  assert.deepEqual([old.partition, old.headers], [0, []]);
});

await test('decode an error with a code', () => {
  // sequence: 2 error_resp { code: 404 message: "unknown topic" }
  assert.deepEqual(decodeResponse(unhex('0802fa0112089403120d756e6b6e6f776e20746f706963')),
    { sequence: 2, type: 'error', error: { code: 404, message: 'unknown topic' } });
});

await test('decode skips unknown members and fields of the new messages', () => {
  // field 102 (no response has it) then a subscribe answer with an unknown
  // field 9 inside it and inside a position
  const r = decodeResponse(unhex('0801' + 'b20600' + 'aa06' + '0a' + '0a04' + '0801' + '4807' + '4801' + '1001'));
  assert.equal(r.type, 'subscribe');
  assert.deepEqual(r.subscribe, { positions: [{ partition: 1, offset: 0 }], ended: true });
});

await test('decode rejects malformed new messages', () => {
  assert.throws(() => decodeResponse(unhex('0801aa06020801')), /malformed/);        // positions as varint
  assert.throws(() => decodeResponse(unhex('0801aa06030a0108')), /malformed/);      // truncated position
  assert.throws(() => decodeResponse(unhex('08018a02060a042a020a05')), /malformed/); // header past its end
  assert.throws(() => decodeResponse(unhex('0801c20602120a')), /malformed/);        // produce offset as bytes
});

// ---------------------------------------------------------------------------
// Answers of a fake server, and the requests the client sent

// protobuf by hand: pb([field, value], ...) where a value is a number or
// BigInt (varint; 0 left out, as proto3 does), or bytes/string/array (a
// length-delimited field, always written); undefined is left out.
function pbVarint(v) {
  let x = BigInt.asUintN(64, BigInt(v));
  const out = [];
  while (x > 0x7fn) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

function pb(...fields) {
  const out = [];
  for (const [num, value] of fields) {
    if (value === undefined) continue;
    if (typeof value === 'number' || typeof value === 'bigint') {
      if (BigInt(value) === 0n) continue;
      out.push(...pbVarint(num * 8), ...pbVarint(value));
    } else {
      const b = typeof value === 'string' ? [...Buffer.from(value)] : [...value];
      out.push(...pbVarint(num * 8 + 2), ...pbVarint(b.length), ...b);
    }
  }
  return out;
}

const positionsOf = (positions) => Object.entries(positions)
  .map(([p, o]) => [1, pb([1, Number(p)], [2, o])]);
const subscribeAnswer = (seq, positions, ended = false) =>
  pb([1, seq], [101, pb(...positionsOf(positions), [2, ended ? 1 : 0])]);
// a message: [partition, offset, value, { key, headers: [[k, v]], timestamp }]
const pushed = (partition, offset, value, o = {}) => pb([1, offset], [2, o.timestamp ?? 1700000000000],
  [3, o.key], [4, value], ...(o.headers || []).map(([k, v]) => [5, pb([1, k], [2, v])]), [6, partition]);
const pushAnswer = (seq, messages) => pb([1, seq], [33, pb(...messages.map((m) => [1, m]))]);
const codeError = (seq, code, message) => pb([1, seq], [31, pb([1, code], [2, message])]);
const produceAnswer = (seq, partition, offset, timestamp) =>
  pb([1, seq], [104, pb([1, partition], [2, offset], [3, timestamp])]);
const commitAnswer = (seq) => pb([1, seq], [105, []]);
const committedAnswer = (seq, offsets) => pb([1, seq], [106, pb(...positionsOf(offsets))]);

FakeSocket.prototype.reply = function reply(bytes) {
  this.answer(hex(bytes));
};

// A protobuf message as [[field, value]]: varints as BigInt, the rest as
// Uint8Array.
function pbParse(bytes) {
  const out = [];
  let i = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = bytes[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
  };
  while (i < bytes.length) {
    const t = Number(varint());
    if (t % 8 === 0) {
      out.push([t >> 3, BigInt.asIntN(64, varint())]);
    } else if (t % 8 === 2) {
      const n = Number(varint());
      out.push([t >> 3, bytes.subarray(i, i + n)]);
      i += n;
    } else {
      throw new Error(`wire type ${t % 8}`);
    }
  }
  return out;
}

const COMMAND = { 32: 'ping', 33: 'fetch', 34: 'listOffset', 101: 'subscribe', 102: 'unsubscribe',
  103: 'credit', 104: 'produce', 105: 'commit', 106: 'committed' };

// The requests the fake socket got, decoded far enough for the tests:
// { sequence, name, ...fields }.
function sentRequests(ws) {
  return ws.sent.map((bytes) => {
    const req = { sequence: 0 };
    for (const [f, v] of pbParse(bytes)) {
      if (f === 1) { req.sequence = Number(v); continue; }
      req.name = COMMAND[f] || `field ${f}`;
      const body = pbParse(v);
      const num = (n) => Number(body.filter(([g]) => g === n).map(([, x]) => x).pop() ?? 0n);
      const str = (n) => text(body.filter(([g]) => g === n).map(([, x]) => x).pop() ?? []);
      const offsets = (n) => body.filter(([g]) => g === n).map(([, x]) => {
        const po = pbParse(x);
        const get = (k) => Number(po.filter(([g]) => g === k).map(([, y]) => y).pop() ?? 0n);
        return [get(1), get(2)];
      });
      switch (req.name) {
        case 'subscribe':
          Object.assign(req, { topic: str(1), partitions: offsets(2), all: num(3), start: num(4),
            group: str(5), window: num(7) });
          break;
        case 'unsubscribe': req.subscription = num(1); break;
        case 'credit': Object.assign(req, { subscription: num(1), messages: num(2) }); break;
        case 'commit': Object.assign(req, { group: str(1), topic: str(2), offsets: offsets(3) }); break;
        default: break;
      }
    }
    return req;
  });
}

const lastRequest = (ws) => sentRequests(ws).pop();
const requestsNamed = (ws, name) => sentRequests(ws).filter((r) => r.name === name);

// Waits until cond() is true (polling); fails after ms.
async function waitFor(cond, what, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}

// An open client and a subscription on it, started at positions.
async function started(options = {}, positions = { 0: 10, 1: 20 }, topic = 't') {
  const [client, ws] = newClient(options.client);
  ws.open();
  const sub = client.subscribe(topic, options);
  ws.reply(subscribeAnswer(sub.sequence, positions));
  await sub.started;
  return [client, ws, sub];
}

const msgs = (m) => m.map((x) => `${x.partition}:${x.offset}=${x.valueText}`);

// ---------------------------------------------------------------------------
// Produce, commit, committed

await test('produce: the request, the answer, many in flight', async () => {
  const [client, ws] = newClient();
  ws.open();
  const a = client.produce('t', 'v', { key: 'k', partition: 0, headers: { a: '1' }, timestamp: 1700000000000 });
  const b = client.produce('t', new Uint8Array([1, 2]));
  assert.equal(hex(ws.sent[0]), '0801c2061a0a017410001a016b2201762a060a01611201313080d095ffbc31');
  assert.equal(hex(ws.sent[1]), hex(encodeRequest({ sequence: 2, produce: { topic: 't', value: new Uint8Array([1, 2]) } })));
  ws.reply(produceAnswer(2, 1, 7, 1700000000001));
  ws.reply(produceAnswer(1, 0, 16, 1700000000000));
  assert.deepEqual(await a, { partition: 0, offset: 16, timestamp: 1700000000000 });
  assert.deepEqual(await b, { partition: 1, offset: 7, timestamp: 1700000000001 });
  client.close();
});

await test('produce: an error answer rejects with its code', async () => {
  const [client, ws] = newClient();
  ws.open();
  const p = client.produce('t', 'x');
  ws.reply(codeError(1, 429, 'producer queue full'));
  await assert.rejects(p, (err) => err instanceof ServerError && err.code === 429
    && err.message === 'producer queue full');
  client.close();
});

await test('commit and committed', async () => {
  const [client, ws] = newClient();
  ws.open();
  const c = client.commit('g', 't', { 0: 17, 1: 0 });
  assert.equal(hex(ws.sent[0]), '0801ca060e0a01671201741a0210111a020801');
  ws.reply(commitAnswer(1));
  assert.equal(await c, undefined);
  const q = client.committed('g', 't', [0, 1]);
  // sequence: 2 cmd_kafka_committed { group: "g" topic: "t" partitions: [0, 1] }
  assert.equal(hex(ws.sent[1]), '0802d2060a0a01671201741a020001');
  ws.reply(committedAnswer(2, { 0: 17, 1: -1 }));
  assert.deepEqual(await q, new Map([[0, 17], [1, -1]]));
  const all = client.committed('g', 't');
  assert.equal(hex(ws.sent[2]), '0803d206060a0167120174');
  ws.reply(committedAnswer(3, {}));
  assert.deepEqual(await all, new Map());
  const bad = client.commit('g', 'nope', [{ partition: 0, offset: 1 }]);
  ws.reply(codeError(4, 404, 'unknown topic'));
  await assert.rejects(bad, (err) => err.code === 404);
  client.close();
});

await test('request() leaves subscribe and credit to subscribe()', async () => {
  const [client, ws] = newClient();
  ws.open();
  await assert.rejects(client.request({ subscribe: { topic: 't' } }), TypeError);
  await assert.rejects(client.request({ credit: { subscription: 1, messages: 1 } }), TypeError);
  assert.equal(ws.sent.length, 0);
  client.close();
});

// ---------------------------------------------------------------------------
// Subscriptions

await test('subscribe: the request; started; onMessage with partition and headers; positions', async () => {
  const [client, ws] = newClient();
  ws.open();
  const got = [];
  const sub = client.subscribe('demo', {
    onMessage: (m, s) => got.push([m.partition, m.offset, m.valueText, m.header('h') && text(m.header('h')),
      s.positions.get(m.partition)]),
  });
  assert.ok(sub instanceof Subscription);
  assert.equal(sub.state, 'starting');
  assert.equal(sub.sequence, 1);
  // all partitions from the end
  assert.equal(hex(ws.sent[0]), hex(encodeRequest({ sequence: 1, subscribe: { topic: 'demo', allPartitions: true, start: -1 } })));
  ws.reply(subscribeAnswer(1, { 0: 30, 1: 12, 2: 0 }));
  assert.deepEqual(await sub.started, new Map([[0, 30], [1, 12], [2, 0]]));
  assert.equal(sub.state, 'running');
  ws.reply(pushAnswer(1, [pushed(1, 12, 'a', { headers: [['h', 'x']] }), pushed(1, 13, 'b')]));
  ws.reply(pushAnswer(1, [pushed(0, 30, 'c')]));
  assert.deepEqual(got, [[1, 12, 'a', 'x', 13], [1, 13, 'b', undefined, 14], [0, 30, 'c', undefined, 31]]);
  assert.deepEqual(sub.positions, new Map([[0, 31], [1, 14], [2, 0]]));
  assert.equal(requestsNamed(ws, 'credit').length, 0, 'no window, no credit');
  client.close();
});

await test('subscribe: options become the request', async () => {
  const [client, ws] = newClient();
  ws.open();
  client.subscribe('t', { partitions: [0, 2], start: 'earliest' });
  client.subscribe('t', { partitions: { 1: 'latest', 3: 9 }, allPartitions: true, start: 1700000000000,
    group: 'g', window: 10 });
  client.subscribe('t', { partitions: [{ partition: 4, offset: 'earliest' }], filter: { key: 'k', headers: { a: 'b' } } });
  const [a, b, c] = sentRequests(ws);
  assert.deepEqual([a.partitions, a.all, a.start], [[[0, -2], [2, -2]], 0, -2]);
  assert.deepEqual([b.partitions, b.all, b.start, b.group, b.window],
    [[[1, -1], [3, 9]], 1, 1700000000000, 'g', 10]);
  assert.equal(hex(ws.sent[2]), hex(encodeRequest({ sequence: 3, subscribe: {
    topic: 't', partitions: [[4, -2]], start: -1, filter: { key: 'k', headers: { a: 'b' } } } })));
  assert.equal(c.all, 0);
  assert.throws(() => client.subscribe('t', { autoCommit: 100 }), /needs a group/);
  assert.throws(() => client.subscribe('t', { window: -1 }), RangeError);
  assert.throws(() => client.subscribe('t', { onMessage: 'x' }), TypeError);
  assert.throws(() => client.subscribe('t', { start: 'now' }), TypeError);
  assert.equal(ws.sent.length, 3, 'nothing sent for bad options');
  client.close();
});

await test('subscribe before the socket is open: sent when it opens', async () => {
  const [client, ws] = newClient();
  const sub = client.subscribe('t', {});
  assert.equal(ws.sent.length, 0);
  ws.open();
  assert.equal(lastRequest(ws).name, 'subscribe');
  ws.reply(subscribeAnswer(sub.sequence, { 0: 1 }));
  assert.deepEqual(await sub.started, new Map([[0, 1]]));
  client.close();
});

await test('iterator: messages in order, positions, break unsubscribes', async () => {
  const [client, ws, sub] = await started({}, { 0: 10, 1: 20 });
  ws.reply(pushAnswer(1, [pushed(0, 10, 'a'), pushed(0, 11, 'b')]));
  ws.reply(pushAnswer(1, [pushed(1, 20, 'c')]));
  const got = [];
  let unsubscribed;
  for await (const m of sub) {
    got.push(m);
    assert.equal(sub.positions.get(m.partition), m.offset + 1);
    if (got.length === 3) {
      // more comes while the loop body runs: not handed out after the break
      ws.reply(pushAnswer(1, [pushed(1, 21, 'd')]));
      setTimeout(() => {
        unsubscribed = lastRequest(ws);
        ws.reply(subscribeAnswer(unsubscribed.sequence, { 0: 12, 1: 22 }, true));
      }, 5);
      break;
    }
  }
  assert.deepEqual(msgs(got), ['0:10=a', '0:11=b', '1:20=c']);
  assert.deepEqual([unsubscribed.name, unsubscribed.subscription], ['unsubscribe', 1]);
  assert.equal(sub.state, 'ended');
  assert.equal(sub.endReason, 'unsubscribed');
  // what was handed out, not what the server had pushed
  assert.deepEqual(await sub.ended, new Map([[0, 12], [1, 21]]));
  client.close();
});

await test('credit: batches of half the window, as messages are consumed', async () => {
  const [client, ws, sub] = await started({ window: 4, onMessage: () => {} }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a')]));
  assert.equal(requestsNamed(ws, 'credit').length, 0);
  ws.reply(pushAnswer(1, [pushed(0, 1, 'b'), pushed(0, 2, 'c'), pushed(0, 3, 'd')]));
  let credits = requestsNamed(ws, 'credit');
  assert.deepEqual(credits.map((c) => [c.subscription, c.messages]), [[1, 2], [1, 2]]);
  ws.reply(pushAnswer(1, [pushed(0, 4, 'e')]));
  ws.reply(pushAnswer(1, [pushed(0, 5, 'f'), pushed(0, 6, 'g')]));
  credits = requestsNamed(ws, 'credit');
  assert.deepEqual(credits.map((c) => c.messages), [2, 2, 2]);
  // credits are never answered: nothing waits for them
  assert.equal(client._pending.size, 0);
  assert.equal(sub.positions.get(0), 7);
  client.close();
});

await test('credit: a window of 1 grants each message', async () => {
  const [client, ws] = await started({ window: 1, onMessage: () => {} }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a')]));
  ws.reply(pushAnswer(1, [pushed(0, 1, 'b')]));
  assert.deepEqual(requestsNamed(ws, 'credit').map((c) => c.messages), [1, 1]);
  client.close();
});

await test('credit: a consumer that does not take stops the server; the buffer is bounded by the window', async () => {
  const [client, ws, sub] = await started({ window: 4 }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b'), pushed(0, 2, 'c'), pushed(0, 3, 'd')]));
  assert.equal(sub.buffered, 4);
  assert.equal(requestsNamed(ws, 'credit').length, 0, 'nothing taken, no credit');
  const it = sub[Symbol.asyncIterator]();
  assert.equal((await it.next()).value.offset, 0);
  assert.equal(requestsNamed(ws, 'credit').length, 0);
  assert.equal((await it.next()).value.offset, 1);
  assert.deepEqual(requestsNamed(ws, 'credit').map((c) => c.messages), [2]);
  assert.equal(sub.buffered, 2);
  // the server may now push 2 more; a third is beyond the window
  ws.reply(pushAnswer(1, [pushed(0, 4, 'e'), pushed(0, 5, 'f')]));
  assert.equal(sub.state, 'running');
  assert.equal(sub.buffered, 4);
  const errors = [];
  client.addEventListener('error', (e) => errors.push(e.detail));
  ws.reply(pushAnswer(1, [pushed(0, 6, 'g')]));
  assert.equal(sub.state, 'failed');
  assert.match(sub.error.message, /more than the window of 4/);
  assert.equal(sub.buffered, 0);
  assert.deepEqual([lastRequest(ws).name, lastRequest(ws).subscription], ['unsubscribe', 1]);
  await assert.rejects(it.next(), /more than the window/);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.deepEqual(await sub.ended, new Map([[0, 2]]));
  // the server's answer to that unsubscribe, and pushes before it, are quiet
  ws.reply(pushAnswer(1, [pushed(0, 7, 'h')]));
  ws.reply(subscribeAnswer(lastRequest(ws).sequence, { 0: 7 }, true));
  assert.deepEqual(errors, []);
  client.close();
});

await test('credit: an async onMessage holds the next message and its credit back', async () => {
  let release;
  const got = [];
  const [client, ws, sub] = await started({
    window: 2,
    onMessage: (m) => {
      got.push(m.offset);
      return new Promise((resolve) => { release = resolve; });
    },
  }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b')]));
  assert.deepEqual(got, [0]);
  assert.equal(sub.buffered, 1);
  assert.equal(requestsNamed(ws, 'credit').length, 0);
  release();
  await waitFor(() => got.length === 2, 'the second message');
  assert.deepEqual(requestsNamed(ws, 'credit').map((c) => c.messages), [1]);
  release();
  await waitFor(() => requestsNamed(ws, 'credit').length === 2, 'the second credit');
  client.close();
});

await test('credit: duplicates are dropped and still granted back', async () => {
  const got = [];
  const [client, ws, sub] = await started({ window: 4, onMessage: (m) => got.push(m.offset) }, { 0: 5 });
  ws.reply(pushAnswer(1, [pushed(0, 4, 'old'), pushed(0, 5, 'a')]));
  ws.reply(pushAnswer(1, [pushed(0, 5, 'a again'), pushed(0, 7, 'after a hole')]));
  assert.deepEqual(got, [5, 7]);
  assert.deepEqual(requestsNamed(ws, 'credit').map((c) => c.messages), [2, 2]);
  assert.equal(sub.positions.get(0), 8);
  client.close();
});

await test('a credit that fails fails the subscription', async () => {
  const errors = [];
  const [client, ws, sub] = await started({ window: 2, onMessage: () => {}, onError: (e) => errors.push(e) }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b')]));
  const credit = lastRequest(ws);
  assert.equal(credit.name, 'credit');
  ws.reply(codeError(credit.sequence, 400, 'bad credit'));
  assert.equal(sub.state, 'failed');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 400);
  assert.equal(lastRequest(ws).name, 'unsubscribe');
  client.close();
});

await test('gap: handed out in stream order, positions jump, onGap', async () => {
  const events = [];
  const [client, ws, sub] = await started({
    onGap: (gaps, s) => events.push(`gap ${gaps.map((g) => `${g.partition}:${g.from}->${g.to}`).join(' ')}`
      + ` pos ${s.positions.get(0)}`),
  }, { 0: 10, 1: 3 });
  ws.reply(pushAnswer(1, [pushed(0, 10, 'a')]));
  ws.reply(subscribeAnswer(1, { 0: 50 }));
  ws.reply(pushAnswer(1, [pushed(0, 50, 'b')]));
  assert.equal(sub.buffered, 3);
  for await (const m of sub) {
    events.push(`${m.partition}:${m.offset}`);
    if (m.offset === 50) {
      // leaving the loop waits for the unsubscribe's answer
      setTimeout(() => {
        events.push(sub.state);
        ws.reply(subscribeAnswer(lastRequest(ws).sequence, { 0: 51, 1: 3 }, true));
      }, 5);
      break;
    }
  }
  assert.deepEqual(events, ['0:10', 'gap 0:11->50 pos 50', '0:50', 'ending']);
  assert.equal(sub.state, 'ended');
  assert.deepEqual(await sub.ended, new Map([[0, 51], [1, 3]]));
  client.close();
});

await test('gap with onMessage: between the messages around it; an async onMessage delays it', async () => {
  const events = [];
  let release = null;
  const [client, ws] = await started({
    onMessage: (m) => {
      events.push(`${m.partition}:${m.offset}`);
      if (m.offset === 10) return new Promise((resolve) => { release = resolve; });
      return undefined;
    },
    onGap: (gaps) => events.push(`gap ${gaps.map((g) => `${g.partition}:${g.from}->${g.to}`).join(' ')}`),
  }, { 0: 10, 1: 3 });
  ws.reply(pushAnswer(1, [pushed(0, 10, 'a')]));
  ws.reply(subscribeAnswer(1, { 0: 50, 1: 7 }));
  ws.reply(pushAnswer(1, [pushed(1, 7, 'b')]));
  assert.deepEqual(events, ['0:10']);
  release();
  await waitFor(() => events.length === 3, 'the gap and the next message');
  assert.deepEqual(events, ['0:10', 'gap 0:11->50 1:3->7', '1:7']);
  client.close();
});

await test('unsubscribe: nothing more is handed out; the final positions; its answer ends it', async () => {
  const got = [];
  const ends = [];
  const [client, ws, sub] = await started({
    onMessage: (m) => got.push(m.offset),
    onEnd: (positions, s) => ends.push([positions, s.endReason]),
  }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a')]));
  const p = sub.unsubscribe();
  assert.equal(sub.unsubscribe(), p, 'once');
  assert.equal(sub.state, 'ending');
  const unsub = lastRequest(ws);
  assert.deepEqual([unsub.name, unsub.sequence, unsub.subscription], ['unsubscribe', 2, 1]);
  ws.reply(pushAnswer(1, [pushed(0, 1, 'late')]));
  ws.reply(subscribeAnswer(2, { 0: 2 }, true));
  assert.deepEqual(await p, new Map([[0, 1]]));
  assert.deepEqual(got, [0]);
  assert.deepEqual(ends, [[new Map([[0, 1]]), 'unsubscribed']]);
  assert.equal(sub.state, 'ended');
  // the subscription's sequence is free again: an answer with it is unknown
  const errors = [];
  client.addEventListener('error', (e) => errors.push(e.detail.message));
  ws.reply(pushAnswer(1, [pushed(0, 2, 'x')]));
  assert.deepEqual(errors, ['answer with unknown sequence 1']);
  assert.deepEqual(await sub.unsubscribe(), new Map([[0, 1]]));
  client.close();
});

await test('unsubscribe before the start: started rejects, the server\'s positions', async () => {
  const [client, ws] = newClient();
  ws.open();
  const sub = client.subscribe('t', { partitions: [0] });
  const p = sub.unsubscribe();
  ws.reply(subscribeAnswer(2, { 0: 40 }, true));
  assert.deepEqual(await p, new Map([[0, 40]]));
  await assert.rejects(sub.started, /ended before it started/);
  client.close();
});

await test('unsubscribe when the server ended it meanwhile: its 404 is quiet', async () => {
  const errors = [];
  const [client, ws, sub] = await started({}, { 0: 3 });
  client.addEventListener('error', (e) => errors.push(e.detail));
  const p = sub.unsubscribe();
  ws.reply(subscribeAnswer(1, { 0: 3 }, true));
  ws.reply(codeError(2, 404, 'unknown subscription'));
  assert.deepEqual(await p, new Map([[0, 3]]));
  assert.deepEqual(errors, []);
  client.close();
});

await test('the server ends it (ended, its own sequence): onEnd, the iterator finishes, then the socket closes', async () => {
  const ends = [];
  const errors = [];
  const [client, ws, sub] = await started({
    onEnd: (positions, s) => ends.push(s.endReason),
    onError: (e) => errors.push(e),
  }, { 0: 0, 1: 0 });
  ws.reply(pushAnswer(1, [pushed(1, 0, 'a'), pushed(1, 1, 'b')]));
  const it = sub[Symbol.asyncIterator]();
  assert.equal((await it.next()).value.offset, 0);
  const waiting = it.next().then((r) => r.value.offset).then(() => it.next());
  ws.reply(subscribeAnswer(1, { 0: 0, 1: 2 }, true));
  assert.deepEqual(await waiting, { value: undefined, done: true });
  ws.drop(1001, 'going away');
  assert.deepEqual(ends, ['server']);
  assert.deepEqual(errors, []);
  assert.equal(sub.endReason, 'server');
  assert.deepEqual(await sub.ended, new Map([[0, 0], [1, 2]]));
  assert.equal(requestsNamed(ws, 'unsubscribe').length, 0);
});

await test('the server ends it with dropped messages: positions are what was handed out', async () => {
  const [client, ws, sub] = await started({}, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b')]));
  const it = sub[Symbol.asyncIterator]();
  await it.next();
  ws.reply(subscribeAnswer(1, { 0: 2 }, true));
  assert.deepEqual(await sub.ended, new Map([[0, 1]]));
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  client.close();
});

await test('an error answer with its sequence fails it for good: onError, started, the iterator', async () => {
  const [client, ws] = newClient();
  ws.open();
  const errors = [];
  const sub = client.subscribe('nope', { onError: (e, s) => errors.push([e.code, s.state]) });
  ws.reply(codeError(1, 404, 'unknown topic'));
  await assert.rejects(sub.started, (err) => err instanceof ServerError && err.code === 404);
  assert.deepEqual(errors, [[404, 'failed']]);
  assert.equal(sub.endReason, 'failed');
  assert.equal(requestsNamed(ws, 'unsubscribe').length, 0, 'the server has it no more');
  assert.deepEqual(await sub.ended, new Map());

  const sub2 = client.subscribe('t', {});
  ws.reply(subscribeAnswer(2, { 0: 4 }));
  await sub2.started;
  const it = sub2[Symbol.asyncIterator]();
  const next = it.next();
  ws.reply(codeError(2, 503, 'Kafka unavailable'));
  await assert.rejects(next, (err) => err.code === 503 && err.message === 'Kafka unavailable');
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  client.close();
});

await test('the socket closes: subscriptions fail with ConnectionClosedError', async () => {
  const errors = [];
  const [client, ws, sub] = await started({ onMessage: () => {}, onError: (e) => errors.push(e) }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a')]));
  ws.drop(1006);
  assert.equal(sub.state, 'failed');
  assert.ok(errors[0] instanceof ConnectionClosedError);
  assert.deepEqual(await sub.ended, new Map([[0, 1]]));
  // subscribing on a closed client fails too, after the call returns
  const late = client.subscribe('t', { onError: (e) => errors.push(e) });
  assert.equal(late.state, 'starting');
  await assert.rejects(late.started, ConnectionClosedError);
  assert.equal(errors.length, 2);
  assert.deepEqual(await late.unsubscribe(), new Map());
});

await test('client.close(): subscriptions end (closed), the last commit goes before the close', async () => {
  const ends = [];
  const [client, ws, sub] = await started({
    group: 'g', autoCommit: 60000, onMessage: () => {}, onEnd: (p, s) => ends.push(s.endReason),
  }, { 0: 0, 1: 5 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b')]));
  client.close();
  const commit = lastRequest(ws);
  assert.deepEqual([commit.name, commit.group, commit.topic, commit.offsets], ['commit', 'g', 't', [[0, 2], [1, 5]]]);
  assert.deepEqual(ws.closedWith, { code: 1000, reason: '' });
  assert.deepEqual(ends, ['closed']);
  assert.deepEqual(await sub.ended, new Map([[0, 2], [1, 5]]));
});

await test('autoCommit: every N ms what was processed, only what changed', async () => {
  const [client, ws, sub] = await started({ group: 'g', autoCommit: 20, onMessage: () => {} }, { 0: 0, 1: 5 });
  await waitFor(() => requestsNamed(ws, 'commit').length === 1, 'the first commit');
  let commit = requestsNamed(ws, 'commit')[0];
  assert.deepEqual(commit.offsets, [[0, 0], [1, 5]], 'the start positions');
  ws.reply(commitAnswer(commit.sequence));
  ws.reply(pushAnswer(1, [pushed(1, 5, 'a'), pushed(1, 6, 'b')]));
  await waitFor(() => requestsNamed(ws, 'commit').length === 2, 'the second commit');
  commit = requestsNamed(ws, 'commit')[1];
  assert.deepEqual(commit.offsets, [[1, 7]]);
  // unanswered: the next tick does not send another
  await tick(60);
  assert.equal(requestsNamed(ws, 'commit').length, 2);
  ws.reply(commitAnswer(commit.sequence));
  await tick(60);
  assert.equal(requestsNamed(ws, 'commit').length, 2, 'nothing changed, nothing sent');
  client.close();
});

await test('autoCommit: a failed commit goes to the client\'s error event', async () => {
  const [client, ws] = await started({ group: 'g', autoCommit: 20 }, { 0: 0 });
  const errors = [];
  client.addEventListener('error', (e) => errors.push(e.detail));
  await waitFor(() => requestsNamed(ws, 'commit').length === 1, 'a commit');
  ws.reply(codeError(requestsNamed(ws, 'commit')[0].sequence, 403, 'not allowed'));
  await waitFor(() => errors.length === 1, 'the error');
  assert.equal(errors[0].code, 403);
  // and it is tried again
  await waitFor(() => requestsNamed(ws, 'commit').length === 2, 'another commit');
  client.close();
});

await test('autoCommit with the iterator: commit() covers what the loop body finished', async () => {
  const [client, ws, sub] = await started({ group: 'g', autoCommit: 60000 }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b'), pushed(0, 2, 'c')]));
  const it = sub[Symbol.asyncIterator]();
  await it.next();
  await it.next();
  const c = sub.commit();
  let commit = lastRequest(ws);
  assert.deepEqual([commit.name, commit.offsets], ['commit', [[0, 1]]], 'the second is still in the loop body');
  ws.reply(commitAnswer(commit.sequence));
  await c;
  const u = sub.unsubscribe();
  const [last, unsub] = sentRequests(ws).slice(-2);
  assert.deepEqual([last.name, last.offsets], ['commit', [[0, 2]]]);
  assert.deepEqual([unsub.name, unsub.subscription], ['unsubscribe', 1]);
  ws.reply(subscribeAnswer(unsub.sequence, { 0: 3 }, true));
  let done = false;
  u.then(() => { done = true; });
  await tick(5);
  assert.equal(done, false, 'unsubscribe() waits for its commit');
  ws.reply(commitAnswer(last.sequence));
  assert.deepEqual(await u, new Map([[0, 2]]));
  client.close();
});

await test('the server ends it: autoCommit stores what was processed', async () => {
  const [client, ws, sub] = await started({ group: 'g', autoCommit: 60000, onMessage: () => {} }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a')]));
  ws.reply(subscribeAnswer(1, { 0: 1 }, true));
  const commit = lastRequest(ws);
  assert.deepEqual([commit.name, commit.offsets], ['commit', [[0, 1]]]);
  client.close();
});

await test('onMessage throws: the subscription fails with it and unsubscribes', async () => {
  const errors = [];
  const [client, ws, sub] = await started({
    onMessage: (m) => { if (m.offset === 1) throw new Error('app bug'); },
    onError: (e) => errors.push(e.message),
  }, { 0: 0 });
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a'), pushed(0, 1, 'b'), pushed(0, 2, 'c')]));
  assert.deepEqual(errors, ['app bug']);
  assert.equal(lastRequest(ws).name, 'unsubscribe');
  assert.deepEqual(await sub.ended, new Map([[0, 2]]));
  client.close();
});

await test('no start answer within requestTimeout: RequestTimeoutError, unsubscribed', async () => {
  const [client, ws] = newClient({ requestTimeout: 30 });
  ws.open();
  const sub = client.subscribe('t', {});
  await assert.rejects(sub.started, RequestTimeoutError);
  assert.equal(lastRequest(ws).name, 'unsubscribe');
  // a late start answer is swallowed
  const errors = [];
  client.addEventListener('error', (e) => errors.push(e.detail));
  ws.reply(subscribeAnswer(1, { 0: 0 }));
  assert.deepEqual(errors, []);
  client.close();
});

await test('protocol violations fail it: messages before the start, an answer of another type', async () => {
  const [client, ws] = newClient();
  ws.open();
  const a = client.subscribe('t', {});
  ws.reply(pushAnswer(1, [pushed(0, 0, 'a')]));
  await assert.rejects(a.started, /before its start positions/);
  const b = client.subscribe('t', {});
  ws.reply(produceAnswer(b.sequence, 0, 1, 1));
  await assert.rejects(b.started, /unexpected produce answer/);
  client.close();
});

await test('two subscriptions on one socket, each gets its own', async () => {
  const [client, ws] = newClient();
  ws.open();
  const a = [];
  const b = [];
  const s1 = client.subscribe('t1', { onMessage: (m) => a.push(m.valueText) });
  const s2 = client.subscribe('t2', { onMessage: (m) => b.push(m.valueText) });
  ws.reply(subscribeAnswer(2, { 0: 0 }));
  ws.reply(subscribeAnswer(1, { 0: 0 }));
  ws.reply(pushAnswer(2, [pushed(0, 0, 'two')]));
  ws.reply(pushAnswer(1, [pushed(0, 0, 'one')]));
  await Promise.all([s1.started, s2.started]);
  assert.deepEqual([a, b], [['one'], ['two']]);
  client.close();
});

await test('iterating a subscription that has onMessage is an error', async () => {
  const [client, ws, sub] = await started({ onMessage: () => {} });
  assert.throws(() => sub[Symbol.asyncIterator](), TypeError);
  await assert.rejects(sub.next(), TypeError);
  client.close();
});

await test('window 0: a big backlog waits for the iterator, in order', async () => {
  const [client, ws, sub] = await started({}, { 0: 0 });
  for (let i = 0; i < 3000; i += 100) {
    ws.reply(pushAnswer(1, Array.from({ length: 100 }, (_, k) => pushed(0, i + k, 'x'))));
  }
  assert.equal(sub.buffered, 3000);
  let next = 0;
  for await (const m of sub) {
    assert.equal(m.offset, next++);
    if (next === 3000) {
      setTimeout(() => ws.reply(subscribeAnswer(lastRequest(ws).sequence, { 0: 3000 }, true)), 1);
      break;
    }
  }
  assert.equal(requestsNamed(ws, 'credit').length, 0);
  assert.deepEqual(await sub.ended, new Map([[0, 3000]]));
  client.close();
});

console.log(`1..${count}`);
process.exitCode = failed ? 1 : 0;

