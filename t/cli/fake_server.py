"""A fake pubsub server for client tests: a WebSocket server that plays a
scenario and logs what the client sent.

    /usr/bin/python3 fake_server.py PROTO_DIR SCENARIO PORT_FILE LOG

PROTO_DIR holds pubsub_pb2.py (protoc --python_out of proto/pubsub.proto).
SCENARIO is Python run for each connection as the body of an async
function, with these in scope:

    req = await recv()              the next PubSubReq (logged); None once
                                    the client closed
    req = await expect('cmd_kafka_subscribe')
                                    the same, failing the scenario when the
                                    command is another
    await send(resp)                a PubSubResp (use the builders below)
    await sleep(seconds)
    await close(code, reason)       closes the WebSocket
    await until_closed()            logs every request until the client
                                    closes, then its close code
    log(text)

    positions(seq, {0: 30}, ended=False)    KafkaSubscribeResp
    messages(seq, [msg(partition, offset, value, key=b'', headers=[(k, v)],
                       timestamp=...)])     KafkaFetchResp
    error(seq, code, text)                  ErrorResp
    produced(seq, partition, offset, timestamp)
    commit_ok(seq)
    offsets(seq, {0: 17, 1: -1})            KafkaCommittedResp

The server writes its port to PORT_FILE once it listens and serves
connections one after another until killed.  The log has one line per
event: "req <text format of the PubSubReq on one line>", "closed CODE",
"scenario failed: ...".  Nothing here imitates Kafka: the scenario says
what the server answers.
"""

import asyncio
import sys
import textwrap

import websockets

sys.path.insert(0, sys.argv[1])
import pubsub_pb2 as pb  # noqa: E402
from google.protobuf import text_format  # noqa: E402

SCENARIO, PORT_FILE, LOG = sys.argv[2:5]

with open(SCENARIO) as f:
    CODE = f.read()

_log = open(LOG, 'a', buffering=1)


def log(text):
    _log.write(text + '\n')


def _b(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def positions(seq, pos, ended=False):
    r = pb.PubSubResp(sequence=seq)
    r.kafka_subscribe_resp.SetInParent()
    for p, o in pos.items():
        r.kafka_subscribe_resp.positions.add(partition=p, offset=o)
    r.kafka_subscribe_resp.ended = ended
    return r


def msg(partition, offset, value, key=b'', headers=(), timestamp=1700000000000):
    m = pb.KafkaMessage(partition=partition, offset=offset, value=_b(value),
                        key=_b(key), timestamp=timestamp)
    for k, v in headers:
        m.headers.add(key=k, value=_b(v))
    return m


def messages(seq, msgs):
    r = pb.PubSubResp(sequence=seq)
    r.kafka_fetch_resp.SetInParent()
    r.kafka_fetch_resp.messages.extend(msgs)
    return r


def error(seq, code, text):
    r = pb.PubSubResp(sequence=seq)
    r.error_resp.code = code
    r.error_resp.message = text
    return r


def produced(seq, partition, offset, timestamp):
    r = pb.PubSubResp(sequence=seq)
    r.kafka_produce_resp.SetInParent()
    r.kafka_produce_resp.partition = partition
    r.kafka_produce_resp.offset = offset
    r.kafka_produce_resp.timestamp = timestamp
    return r


def commit_ok(seq):
    r = pb.PubSubResp(sequence=seq)
    r.kafka_commit_resp.SetInParent()
    return r


def offsets(seq, pos):
    r = pb.PubSubResp(sequence=seq)
    r.kafka_committed_resp.SetInParent()
    for p, o in pos.items():
        r.kafka_committed_resp.offsets.add(partition=p, offset=o)
    return r


class ScenarioFailed(Exception):
    pass


async def handler(ws, path=None):
    async def recv():
        while True:
            try:
                data = await ws.recv()
            except websockets.ConnectionClosed:
                return None
            if isinstance(data, str):
                log('text message')
                continue
            req = pb.PubSubReq()
            req.ParseFromString(data)
            log('req ' + text_format.MessageToString(req, as_one_line=True))
            return req

    async def expect(kind):
        req = await recv()
        if req is None:
            raise ScenarioFailed(f'closed while waiting for {kind}')
        if req.WhichOneof('req') != kind:
            raise ScenarioFailed(f'wanted {kind}')
        return req

    async def send(resp):
        await ws.send(resp.SerializeToString())

    async def close(code=1000, reason=''):
        await ws.close(code, reason)

    async def until_closed():
        while await recv() is not None:
            pass
        log(f'closed {ws.close_code}')

    scope = dict(globals(), recv=recv, expect=expect, send=send, close=close,
                 until_closed=until_closed, sleep=asyncio.sleep)
    body = 'async def _scenario():\n' + textwrap.indent(CODE, '    ')
    exec(body, scope)
    try:
        await scope['_scenario']()
    except ScenarioFailed as e:
        log(f'scenario failed: {e}')
        await ws.close(1011, 'scenario failed')
    except websockets.ConnectionClosed:
        log('closed by the client during the scenario')


async def main():
    async with websockets.serve(handler, '127.0.0.1', 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        with open(PORT_FILE + '.tmp', 'w') as f:
            f.write(str(port))
        import os
        os.rename(PORT_FILE + '.tmp', PORT_FILE)
        await asyncio.Future()


asyncio.run(main())
