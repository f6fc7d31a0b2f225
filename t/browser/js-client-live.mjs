// html/pubsub.js against a running gateway, under Node.js (whose WebSocket
// needs --experimental-websocket before Node 22).  Run by t/041-js-client.t:
//
//   node js-client-live.mjs ws://HOST:PORT/kafka ws://HOST:PORT/ping
//
// with topic "test" (1 partition) holding 3 messages.  Prints one line per
// step; after "tailing" it waits for 3 more messages on "test" (produced by
// the caller) and ends.

import { PubSubClient } from '../../html/pubsub.js';

const [kafkaUrl, pingUrl] = process.argv.slice(2);
const say = (line) => console.log(line);
const show = (m) => `${m.offset}:${m.keyText}=${m.valueText}`;

async function expectError(what, promise) {
  try {
    await promise;
    say(`${what}: no error`);
  } catch (err) {
    say(`${what}: ${err.name}: ${err.message}`);
  }
}

const client = await PubSubClient.connect(kafkaUrl, { requestTimeout: 10000 });

say(`ping ${new TextDecoder().decode(await client.ping('hello'))}`);
say(`ping binary ${Buffer.from(await client.ping(new Uint8Array([0, 1, 255]))).toString('hex')}`);
say(`earliest ${await client.listOffset('test', 0, -2)}`);
say(`end ${await client.listOffset('test', 0, -1)}`);

const msgs = await client.fetch('test', 0, 1);
// a fetch starts exactly at the offset; how many follow depends on batches
say(`fetch 1: ${show(msgs[0])}, contiguous ${msgs.every((m, i) => m.offset === 1 + i)}`);
say(`types ${typeof msgs[0].offset} ${typeof msgs[0].timestamp} ${msgs[0].value.constructor.name}`);
say(`timestamp recent ${Math.abs(Date.now() - msgs[0].timestamp) < 60000}`);

// many requests in flight at once, each answer matched to its request
const many = await Promise.all([2, 0, 1, 2, 0].map((o) => client.fetch('test', 0, o)));
say(`in flight: ${many.map((r) => r[0].offset).join(' ')}`);

await expectError('offset past the end', client.fetch('test', 0, 999));
await expectError('unknown topic', client.listOffset('missing', 0, -1));
await expectError('negative partition', client.fetch('test', -1, 0));

// the connection works on after errors
say(`after errors: ping ${new TextDecoder().decode(await client.ping('again'))}`);

// a bare pubsub location: ping only
const bare = await PubSubClient.connect(pingUrl);
say(`bare ping ${new TextDecoder().decode(await bare.ping('x'))}`);
await expectError('bare fetch', bare.fetch('test', 0, 0));
await expectError('empty command', bare.request({ empty: {} }));
bare.close();
await expectError('after close', bare.ping('y'));

// tail from the earliest offset: the 3 messages there, then 3 produced
// while it waits at the end of the partition
const got = [];
let paused = false;
await new Promise((resolve, reject) => {
  const tail = client.tail('test', 0, {
    from: 'earliest',
    onMessage: (m) => {
      got.push(show(m));
      if (got.length === 3) say('tailing');
      if (got.length === 6) {
        tail.stop();
        resolve();
      }
    },
    onError: reject,
  });
  // pause at once, resume once started (and a little later): nothing is
  // lost
  tail.pause();
  const check = setInterval(() => {
    if (tail.state === 'starting') return;
    clearInterval(check);
    paused = tail.state;
    setTimeout(() => tail.resume(), 100);
  }, 10);
});
say(`paused state ${paused}`);
say(`tail: ${got.join(' ')}`);

client.close();
say(`closed ${client.closed}`);
process.exit(0);
