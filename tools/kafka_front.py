#!/usr/bin/python3
"""TLS and SASL in front of librdkafka's mock cluster, for the tests.

librdkafka's mock cluster speaks PLAINTEXT only.  This front listens on
IP:PORT for each broker port (IP being the address the mock advertises, see
pubsub-kafka-mock --advertise) and forwards each connection to
127.0.0.1:PORT, the mock broker itself:

  client --TLS and/or SASL--> IP:PORT (front) --plain TCP--> 127.0.0.1:PORT

With --cert/--key it terminates TLS (with --client-ca it requires a client
certificate signed by that CA).  With --sasl it authenticates each
connection before forwarding anything but ApiVersions:

  ApiVersions (18)       forwarded to the mock; a successful answer gets
                         SaslHandshake 0..1 and SaslAuthenticate 0..0 added
  SaslHandshake (17)     answered here: v1 only (tokens then travel in
                         SaslAuthenticate), error 33 for a mechanism not
                         offered
  SaslAuthenticate (36)  v0, answered here: PLAIN, SCRAM-SHA-256 and
                         SCRAM-SHA-512 (RFC 5802, 4096 iterations) and
                         OAUTHBEARER (RFC 7628; any token whose JWT "sub"
                         is a known user and that has not expired, e.g.
                         librdkafka's unsecured JWT: the signature is not
                         checked); error 58 and the connection closed on
                         bad credentials.  GSSAPI may be offered (so a
                         client gets as far as starting it) but always
                         fails.

Any other request before authentication closes the connection, as a broker
does.  After authentication bytes are piped without being looked at.

It prints READY on stdout once every listener is bound, logs one line per
connection event on stderr ("auth ok ...", "auth failed ...", "tls ..."),
never a password, and exits on SIGTERM, SIGINT or EOF on stdin.

Standard library only; run with /usr/bin/python3.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import ssl
import struct
import sys
import time

API_SASL_HANDSHAKE = 17
API_API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36

ERR_UNSUPPORTED_SASL_MECHANISM = 33
ERR_SASL_AUTHENTICATION_FAILED = 58

MAX_FRAME = 100 * 1024 * 1024
SCRAM_ITERATIONS = 4096
SCRAM_HASHES = {'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512'}
MECHANISMS = ('PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'GSSAPI',
              'OAUTHBEARER')


def log(text):
    sys.stderr.write('kafka_front: %s\n' % text)
    sys.stderr.flush()


class Closed(Exception):
    """The connection is to be closed (the reason is already logged)."""


# ---------------------------------------------------------------------------
# Kafka wire format

class Reader:
    """Reads the Kafka primitive types from bytes."""

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError('truncated')
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int16(self):
        return struct.unpack('>h', self.take(2))[0]

    def int32(self):
        return struct.unpack('>i', self.take(4))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7f) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError('bad varint')

    def string(self):
        n = self.int16()
        return None if n < 0 else self.take(n).decode('utf-8', 'replace')

    def bytes32(self):
        n = self.int32()
        return None if n < 0 else self.take(n)

    def tagged_fields(self):
        """Skips a tagged-field section; returns its raw bytes."""
        start = self.pos
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())
        return self.data[start:self.pos]

    def rest(self):
        return self.data[self.pos:]


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def kstring(s):
    if s is None:
        return struct.pack('>h', -1)
    b = s.encode('utf-8')
    return struct.pack('>h', len(b)) + b


def kbytes(b):
    return struct.pack('>i', len(b)) + b


async def read_frame(reader):
    """One size-prefixed Kafka frame (without its size), None at EOF."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        return None
    size = struct.unpack('>i', head)[0]
    if size < 0 or size > MAX_FRAME:
        raise ValueError('frame size %d' % size)
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None


def frame(body):
    return struct.pack('>i', len(body)) + body


def patch_api_versions(body, version):
    """A mock ApiVersions answer (header v0) with the SASL APIs added."""
    r = Reader(body)
    corr = r.int32()
    error = r.int16()
    if error != 0:
        return body

    flexible = version >= 3
    count = r.uvarint() - 1 if flexible else r.int32()
    entries = []
    for _ in range(count):
        key, lo, hi = r.int16(), r.int16(), r.int16()
        tags = r.tagged_fields() if flexible else b''
        if key not in (API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE):
            entries.append((key, lo, hi, tags))
    tags = b'\x00' if flexible else b''
    entries.append((API_SASL_HANDSHAKE, 0, 1, tags))
    entries.append((API_SASL_AUTHENTICATE, 0, 0, tags))
    entries.sort()

    out = struct.pack('>ih', corr, error)
    out += uvarint(len(entries) + 1) if flexible \
        else struct.pack('>i', len(entries))
    for key, lo, hi, tags in entries:
        out += struct.pack('>hhh', key, lo, hi) + tags
    return out + r.rest()


# ---------------------------------------------------------------------------
# SASL

def scram_attrs(text):
    attrs = {}
    for part in text.split(','):
        if len(part) >= 2 and part[1] == '=':
            attrs.setdefault(part[0], part[2:])
    return attrs


class Scram:
    """Server side of RFC 5802 SCRAM for one connection."""

    def __init__(self, mechanism, users):
        self.mechanism = mechanism
        self.hash = SCRAM_HASHES[mechanism]
        self.users = users
        self.state = 'first'
        self.user = None

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hash).digest()

    def step(self, token):
        """(ok, answer bytes, failure reason); ok None: not finished."""
        text = token.decode('utf-8', 'replace')
        if self.state == 'first':
            return self._first(text)
        if self.state == 'final':
            return self._final(text)
        return False, b'', 'unexpected SCRAM message'

    def _first(self, text):
        # client-first-message: gs2-header client-first-message-bare
        parts = text.split(',', 2)
        if len(parts) != 3 or parts[0] not in ('n', 'y'):
            return False, b'', 'bad SCRAM client-first-message'
        self.gs2 = parts[0] + ',' + parts[1] + ','
        self.client_first_bare = parts[2]
        attrs = scram_attrs(parts[2])
        self.user = attrs.get('n', '').replace('=2C', ',') \
            .replace('=3D', '=')
        cnonce = attrs.get('r')
        if not cnonce:
            return False, b'', 'no client nonce'
        if self.user not in self.users:
            return False, b'', 'unknown user'

        self.salt = os.urandom(16)
        self.nonce = cnonce + base64.b64encode(os.urandom(18)).decode()
        self.server_first = 'r=%s,s=%s,i=%d' % (
            self.nonce, base64.b64encode(self.salt).decode(),
            SCRAM_ITERATIONS)
        self.state = 'final'
        return None, self.server_first.encode(), None

    def _final(self, text):
        self.state = 'done'
        if ',p=' not in text:
            return False, b'', 'no client proof'
        without_proof, proof = text.rsplit(',p=', 1)
        attrs = scram_attrs(without_proof)

        if attrs.get('c') != base64.b64encode(self.gs2.encode()).decode():
            return False, b'', 'channel binding mismatch'

        # librdkafka 2.0.2 sends its own nonce followed by the whole server
        # nonce (which starts with its own nonce again); Kafka accepts it
        # as it only checks that the nonce ends with the server nonce
        nonce = attrs.get('r', '')
        cnonce = scram_attrs(self.client_first_bare).get('r', '')
        if nonce not in (self.nonce, cnonce + self.nonce):
            return False, b'', 'nonce mismatch'

        password = self.users[self.user].encode('utf-8')
        salted = hashlib.pbkdf2_hmac(self.hash, password, self.salt,
                                     SCRAM_ITERATIONS)
        client_key = self._hmac(salted, b'Client Key')
        stored_key = hashlib.new(self.hash, client_key).digest()
        auth_message = ','.join((self.client_first_bare, self.server_first,
                                 without_proof)).encode()
        signature = self._hmac(stored_key, auth_message)
        try:
            proof = base64.b64decode(proof, validate=True)
        except ValueError:
            return False, b'', 'bad client proof'
        if len(proof) != len(signature):
            return False, b'', 'bad client proof'
        candidate = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(
                hashlib.new(self.hash, candidate).digest(), stored_key):
            return False, b'', 'invalid credentials'

        server_key = self._hmac(salted, b'Server Key')
        verifier = base64.b64encode(self._hmac(server_key, auth_message))
        return True, b'v=' + verifier, None


def check_plain(token, users):
    """(ok, user, reason) for a PLAIN token authzid NUL user NUL pass."""
    parts = token.split(b'\x00')
    if len(parts) != 3:
        return False, None, 'bad PLAIN token'
    user = parts[1].decode('utf-8', 'replace')
    password = parts[2].decode('utf-8', 'replace')
    if user not in users:
        return False, user, 'unknown user'
    if not hmac.compare_digest(users[user].encode('utf-8'),
                               password.encode('utf-8')):
        return False, user, 'invalid password'
    return True, user, None


def check_oauthbearer(token, users):
    """(ok, user, reason) for an RFC 7628 client message."""
    text = token.decode('utf-8', 'replace')
    gs2, sep, rest = text.partition('\x01')
    if not sep or not gs2.startswith(('n,', 'y,')):
        return False, None, 'bad OAUTHBEARER message'
    auth = None
    for kv in rest.split('\x01'):
        if kv.startswith('auth='):
            auth = kv[5:]
    if not auth or not auth.lower().startswith('bearer '):
        return False, None, 'no bearer token'
    parts = auth[7:].strip().split('.')
    if len(parts) != 3:
        return False, None, 'not a JWT'
    try:
        payload = parts[1] + '=' * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return False, None, 'bad JWT payload'
    user = claims.get('sub')
    if user not in users:
        return False, user, 'unknown user'
    exp = claims.get('exp')
    if not isinstance(exp, (int, float)) or exp < time.time():
        return False, user, 'token expired or without exp'
    return True, user, None


# ---------------------------------------------------------------------------
# TLS over asyncio streams (ssl.MemoryBIO): unlike asyncio's own TLS, a
# failed handshake still sends its alert (so the client learns why, e.g.
# "certificate required") and can be logged here.

class TlsStream:
    """Reader and writer of one server-side TLS connection."""

    def __init__(self, reader, writer, ctx):
        self.reader = reader
        self.writer = writer
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing,
                                server_side=True)
        self.buf = b''

    async def _flush(self):
        data = self.outgoing.read()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _feed(self):
        data = await self.reader.read(65536)
        if not data:
            self.incoming.write_eof()
            return False
        self.incoming.write(data)
        return True

    async def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                await self._flush()
                return
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._feed():
                    raise ConnectionError('EOF in the TLS handshake')
            except ssl.SSLError:
                try:
                    await self._flush()    # the alert
                except OSError:
                    pass
                raise

    def peercert(self):
        return self.obj.getpeercert()

    async def _read_tls(self, n):
        while True:
            try:
                data = self.obj.read(n)
                await self._flush()
                return data
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._feed():
                    return b''
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b''

    async def read(self, n=65536):
        if self.buf:
            data, self.buf = self.buf[:n], self.buf[n:]
            return data
        return await self._read_tls(n)

    async def readexactly(self, n):
        while len(self.buf) < n:
            data = await self._read_tls(65536)
            if not data:
                partial, self.buf = self.buf, b''
                raise asyncio.IncompleteReadError(partial, n)
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def write(self, data):
        self.obj.write(data)
        out = self.outgoing.read()
        if out:
            self.writer.write(out)

    async def drain(self):
        await self.writer.drain()

    def close(self):
        self.writer.close()


# ---------------------------------------------------------------------------
# Connections

class Front:

    def __init__(self, args):
        self.args = args
        self.mechanisms = [m for m in (args.sasl or '').split(',') if m]
        self.users = {}
        for spec in args.user or []:
            name, sep, password = spec.partition(':')
            if not sep or not name:
                raise SystemExit('kafka_front: --user wants NAME:PASSWORD')
            self.users[name] = password
        self.ssl = None
        if args.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.cert, args.key)
            if args.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(args.client_ca)
            self.ssl = ctx
        self.count = 0

    async def serve(self, reader, writer, port):
        self.count += 1
        name = '%s:%d #%d' % (self.args.listen_ip, port, self.count)
        upstream = None
        try:
            if self.ssl is not None:
                tls = TlsStream(reader, writer, self.ssl)
                try:
                    await tls.handshake()
                except (ssl.SSLError, ConnectionError) as e:
                    log('%s: tls failed: %s' % (name, e))
                    return
                reader = writer = tls
                cert = tls.peercert()
                subject = dict(x[0] for x in cert.get('subject', ())) \
                    if cert else {}
                log('%s: tls ok%s' % (name, ', client certificate CN=%s'
                                      % subject.get('commonName', '?')
                                      if cert else ''))
            try:
                upstream = await asyncio.open_connection(
                    self.args.upstream_ip, port)
            except OSError as e:
                log('%s: cannot connect to %s:%d: %s'
                    % (name, self.args.upstream_ip, port, e))
                return
            if self.mechanisms:
                await self.authenticate(name, reader, writer, upstream)
            await self.pipe(reader, writer, *upstream)
        except Closed:
            pass
        except (ValueError, struct.error) as e:
            log('%s: bad request: %s' % (name, e))
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream[1] if upstream else None):
                if w is not None:
                    try:
                        w.close()
                    except Exception:
                        pass

    async def authenticate(self, name, reader, writer, upstream):
        up_reader, up_writer = upstream
        mechanism = None
        scram = None

        while True:
            req = await read_frame(reader)
            if req is None:
                raise Closed()
            r = Reader(req)
            key, version, corr = r.int16(), r.int16(), r.int32()

            if key == API_API_VERSIONS:
                up_writer.write(frame(req))
                await up_writer.drain()
                resp = await read_frame(up_reader)
                if resp is None:
                    raise Closed()
                writer.write(frame(patch_api_versions(resp, version)))
                await writer.drain()
                continue

            r.string()    # client id (request header v1)

            if key == API_SASL_HANDSHAKE:
                wanted = r.string()
                if version != 1:
                    log('%s: auth failed: SaslHandshake v%d not supported'
                        % (name, version))
                    raise Closed()
                if wanted in self.mechanisms:
                    error = 0
                    mechanism = wanted
                    if wanted in SCRAM_HASHES:
                        scram = Scram(wanted, self.users)
                else:
                    error = ERR_UNSUPPORTED_SASL_MECHANISM
                body = struct.pack('>ihi', corr, error, len(self.mechanisms))
                body += b''.join(kstring(m) for m in self.mechanisms)
                writer.write(frame(body))
                await writer.drain()
                if error:
                    log('%s: auth failed: mechanism %s not enabled'
                        % (name, wanted))
                    raise Closed()
                continue

            if key == API_SASL_AUTHENTICATE and mechanism is not None:
                token = r.bytes32() or b''
                ok, answer, user, reason = self.auth_step(mechanism, scram,
                                                          token)
                if ok is False:
                    message = self.failure_message(mechanism, reason)
                    writer.write(frame(struct.pack('>ih', corr,
                                                   ERR_SASL_AUTHENTICATION_FAILED)
                                       + kstring(message) + kbytes(b'')))
                    await writer.drain()
                    log('%s: auth failed: %s user %s: %s'
                        % (name, mechanism, user, reason))
                    raise Closed()
                writer.write(frame(struct.pack('>ih', corr, 0)
                                   + kstring(None) + kbytes(answer)))
                await writer.drain()
                if ok:
                    log('%s: auth ok: %s user %s' % (name, mechanism, user))
                    return
                continue

            log('%s: auth failed: request (API key %d v%d) before '
                'authentication' % (name, key, version))
            raise Closed()

    def auth_step(self, mechanism, scram, token):
        """(ok True/False/None, answer, user, reason)."""
        if mechanism == 'PLAIN':
            ok, user, reason = check_plain(token, self.users)
            return ok, b'', user, reason
        if mechanism == 'OAUTHBEARER':
            ok, user, reason = check_oauthbearer(token, self.users)
            return ok, b'', user, reason
        if scram is not None:
            ok, answer, reason = scram.step(token)
            return ok, answer, scram.user, reason
        return False, b'', None, '%s is not implemented by this front' \
            % mechanism

    @staticmethod
    def failure_message(mechanism, reason):
        if mechanism == 'PLAIN':
            return 'Authentication failed: Invalid username or password'
        if mechanism in SCRAM_HASHES:
            return ('Authentication failed during authentication due to '
                    'invalid credentials with SASL mechanism %s' % mechanism)
        return 'Authentication failed: %s' % reason

    async def pipe(self, reader, writer, up_reader, up_writer):
        async def copy(src, dst):
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


def ports_of(spec):
    ports = []
    for item in spec.split(','):
        item = item.strip()
        if item:
            ports.append(int(item.rsplit(':', 1)[-1]))
    return ports


def exception_handler(loop, context):
    exc = context.get('exception')
    if isinstance(exc, (ConnectionError, OSError)):
        pass
    else:
        log('%s%s' % (context.get('message'),
                      ': %r' % exc if exc else ''))


async def main(args):
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(exception_handler)
    front = Front(args)
    stop = asyncio.Event()

    servers = []
    for port in ports_of(args.ports):
        async def handler(reader, writer, port=port):
            await front.serve(reader, writer, port)
        servers.append(await asyncio.start_server(
            handler, args.listen_ip, port, reuse_address=True))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def stdin_readable():
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b''
        if not data:
            loop.remove_reader(0)
            stop.set()

    try:
        loop.add_reader(0, stdin_readable)
    except (OSError, ValueError, PermissionError):
        pass    # stdin is a file or /dev/null: only signals stop us

    what = []
    if front.ssl is not None:
        what.append('tls' + (' (client certificate required)'
                             if args.client_ca else ''))
    if front.mechanisms:
        what.append('sasl ' + ','.join(front.mechanisms))
    log('listening on %s ports %s -> %s: %s'
        % (args.listen_ip, ','.join(str(p) for p in ports_of(args.ports)),
           args.upstream_ip, ', '.join(what) or 'plain'))
    print('READY', flush=True)

    await stop.wait()
    for server in servers:
        server.close()
    log('exiting')
    sys.stderr.flush()
    os._exit(0)    # open connections just end


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--listen-ip', default='127.0.0.2')
    p.add_argument('--upstream-ip', default='127.0.0.1')
    p.add_argument('--ports', required=True,
                   help='PORT,... or the bootstrap list HOST:PORT,...')
    p.add_argument('--cert', help='server certificate (PEM): TLS')
    p.add_argument('--key', help='its private key (PEM)')
    p.add_argument('--client-ca',
                   help='require a client certificate signed by this CA')
    p.add_argument('--sasl', help='mechanisms offered, comma-separated')
    p.add_argument('--user', action='append',
                   help='NAME:PASSWORD (repeatable)')
    args = p.parse_args()
    if bool(args.cert) != bool(args.key):
        p.error('--cert and --key go together')
    if args.client_ca and not args.cert:
        p.error('--client-ca needs --cert')
    for m in (args.sasl or '').split(','):
        if m and m not in MECHANISMS:
            p.error('unknown mechanism %s' % m)
    if not args.cert and not args.sasl:
        p.error('nothing to do: give --cert/--key and/or --sasl')
    return args


if __name__ == '__main__':
    args = parse_args()
    try:
        asyncio.run(main(args))
    except OSError as e:
        log(str(e))
        sys.exit(1)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0)
