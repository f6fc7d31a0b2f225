// html/pubsub.js's extension commands against a running gateway, under
// Node.js (--experimental-websocket before Node 22), run by t/041:
//
//   node js-client-extension-live.mjs ws://HOST:PORT/kafka TOPIC
//
// with TOPIC existing (any number of partitions), nothing else producing
// to it, the location letting it write TOPIC and use groups "live-*", and
// not letting it write the topic "denied".  Prints one line per step, stable from run to run
// (offsets relative to where the run started), and exits 0; on a failure
// the line says what and it exits 1.

import { PubSubClient } from '../../html/pubsub.js';

const [url, topic] = process.argv.slice(2);
const say = (line) => console.log(line);
const group = `live-${process.pid}`;

const client = await PubSubClient.connect(url, { requestTimeout: 10000 });
try {
  // a subscription from the end, with a window of 4 and a group that
  // commits when it ends
  const sub = client.subscribe(topic, { window: 4, group, autoCommit: 60000 });
  const start = await sub.started;
  say(`started: ${start.size > 0 ? 'positions of every partition' : 'no partitions'}`);

  // 10 records, in flight together, to partition 0
  const produced = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    client.produce(topic, `v${i}`, { key: 'k', partition: 0, headers: { i: String(i) } })));
  const first = produced[0].offset;
  say(`produced: ${produced.map((p) => `${p.partition}:${p.offset - first}`).join(' ')}`);

  // they come back pushed, in order, with partition and headers; credit
  // goes back as they are taken
  const got = [];
  for await (const m of sub) {
    got.push(`${m.partition}:${m.offset - first}=${m.valueText}/${m.header('i') && new TextDecoder().decode(m.header('i'))}`);
    if (got.length === 10) break;
  }
  say(`pushed: ${got.join(' ')}`);
  const ended = await sub.ended;
  say(`ended: ${sub.endReason}, partition 0 at +${ended.get(0) - first}`);

  // what the group committed on the way out, and a commit by hand
  const committed = await client.committed(group, topic, [0]);
  say(`committed: +${committed.get(0) - first}`);
  await client.commit(group, topic, { 0: first + 5 });
  say(`recommitted: +${(await client.committed(group, topic, [0])).get(0) - first}`);

  // a group subscription starts where the group is; a filter on a header
  const again = client.subscribe(topic, { group, filter: { headers: { i: '7' } } });
  const it = again[Symbol.asyncIterator]();
  const m = (await it.next()).value;
  say(`resumed with a filter: ${m.offset - first}=${m.valueText}`);
  await again.unsubscribe();

  // errors carry their code
  try {
    await client.produce('denied', 'x');
    say('denied topic: no error');
  } catch (err) {
    say(`denied topic: ${err.name} ${err.code}`);
  }
} catch (err) {
  say(`failed: ${err.name}: ${err.message}`);
  process.exitCode = 1;
}
client.close();
