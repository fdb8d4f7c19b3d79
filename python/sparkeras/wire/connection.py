"""Length-prefixed protobuf frames: a TCP connection to the parameter server, and the
same frames over a byte stream (a worker started by the JVM talks over its stdin/stdout)."""
import os
import socket
import ssl
import struct
import time

from sparkeras.errors import ServerError
from sparkeras.wire import sparkeras_pb2 as wire

_HEADER = struct.Struct(">I")


def read_frame(stream):
    """The next Envelope from a byte stream, or None when the stream ended cleanly."""
    header = stream.read(4)
    if len(header) == 0:
        return None
    if len(header) < 4:
        raise EOFError("the stream closed inside a frame header")
    (length,) = _HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("the stream closed inside a frame")
    return wire.Envelope.FromString(payload)


def write_frame(stream, envelope):
    payload = envelope.SerializeToString()
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def envelope(**body):
    """An Envelope holding one message, e.g. envelope(done=wire.Done())."""
    env = wire.Envelope()
    for name, message in body.items():
        getattr(env, name).CopyFrom(message)
    return env


def _advance(buffers, sent):
    """The buffers still to send after `sent` bytes went out (sendmsg may send part)."""
    rest = []
    for b in buffers:
        view = memoryview(b).cast("B") if not isinstance(b, bytes) else memoryview(b)
        if sent >= view.nbytes:
            sent -= view.nbytes
            continue
        rest.append(view[sent:])
        sent = 0
    return rest


def _tls_context(trusted_pem):
    """Verifies the server's certificate against the cluster's own trust (Spark's SSL trust
    store, sent with the job's token). The host name is not checked: the trust anchors are
    the cluster's own certificates, and a driver's address is rarely the name in one."""
    context = ssl.create_default_context(cadata=trusted_pem)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class Connection:
    """One authenticated connection to the parameter server."""

    def __init__(self, host, port, timeout=None, tls=None):
        """tls: the PEM certificates to trust when the server speaks TLS (the coordinator's
        `getTlsTrust()`), or None for plain TCP."""
        self._sock = socket.create_connection((host, port), timeout=30)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._tls = bool(tls)
        if self._tls:
            self._sock = _tls_context(tls).wrap_socket(self._sock, server_hostname=host)
        self._sock.settimeout(timeout)
        self._header = bytearray(4)
        self._buffer = bytearray(1 << 16)

    @classmethod
    def open(cls, host, port, token_hex, role, partition=0, attempt=0, patience=30.0, tls=None):
        """Connects and authenticates, trying again for `patience` seconds when the server
        drops the connection before the Hello is answered (under a flood of unauthenticated
        connections it drops the oldest waiting ones)."""
        deadline, pause = time.monotonic() + patience, 0.05
        while True:
            conn = None
            try:
                conn = cls(host, port, tls=tls)
                conn.hello(token_hex, role, partition, attempt)
                return conn
            except (ConnectionError, EOFError, socket.timeout) as e:
                if conn is not None:
                    conn.close()
                if time.monotonic() + pause > deadline:
                    raise ConnectionError(f"could not reach the parameter server at {host}:{port}: {e}") from e
                time.sleep(pause)
                pause = min(2.0, pause * 2)

    def hello(self, token_hex, role, partition=0, attempt=0):
        """Authenticates this connection; the first frame of every connection."""
        env = wire.Envelope()
        env.hello.token = bytes.fromhex(token_hex)
        env.hello.role = role
        env.hello.partition = partition
        env.hello.attempt = attempt
        env.hello.pid = os.getpid()
        return self.call(env)

    def join(self, num_samples):
        """A worker joins the job with its training rows; returns the Welcome (synchronous
        jobs answer once every worker has joined)."""
        return self.call(envelope(join=wire.Join(num_samples=num_samples))).welcome

    def pull(self, end_of_training=False):
        """The current master weights (a Weights message). The driver's last pull ends training:
        the server optimizer finishes the weights first (with use_ema, they become their average)."""
        return self.call(envelope(pull=wire.Pull(end_of_training=end_of_training))).weights

    def history(self):
        return self.call(envelope(history_request=wire.HistoryRequest())).history

    def worker_state(self):
        """The workers' non-trainable state, averaged by rows (a WorkerState; samples 0 if none)."""
        return self.call(envelope(state_request=wire.StateRequest())).worker_state

    def members(self):
        """The ensemble algorithm's trained models, one WorkerState per partition."""
        return list(self.call(envelope(members_request=wire.MembersRequest())).members.members)

    def done(self):
        self.call(envelope(done=wire.Done()))

    def report_failure(self, failure):
        """Tells the server why this worker is about to fail (a WorkerFailure message)."""
        self.call(envelope(worker_failure=failure))

    def call(self, envelope):
        """Sends one envelope and returns the reply; a server Error becomes ServerError."""
        self.send(envelope)
        reply = self.receive()
        if reply.WhichOneof("body") == "error":
            raise ServerError(f"parameter server: {reply.error.message}")
        return reply

    def send(self, envelope):
        payload = envelope.SerializeToString()
        if self._tls:  # an SSL socket has no sendmsg
            self._sock.sendall(_HEADER.pack(len(payload)) + payload)
        else:
            self._sock.sendmsg([_HEADER.pack(len(payload)), payload])

    def call_parts(self, parts):
        """Like `call`, for an envelope already encoded as a list of buffers."""
        total = sum(memoryview(p).nbytes for p in parts)
        buffers = [_HEADER.pack(total)] + list(parts)
        if self._tls:
            for b in buffers:
                self._sock.sendall(b)
            buffers = []
        while buffers:
            sent = self._sock.sendmsg(buffers)
            buffers = _advance(buffers, sent)
        reply = self.receive()
        if reply.WhichOneof("body") == "error":
            raise ServerError(f"parameter server: {reply.error.message}")
        return reply

    def receive(self):
        self._read_exactly(self._header, 4)
        (length,) = _HEADER.unpack(self._header)
        if len(self._buffer) < length:
            self._buffer = bytearray(max(length, 2 * len(self._buffer)))
        self._read_exactly(self._buffer, length)
        return wire.Envelope.FromString(memoryview(self._buffer)[:length])

    def _read_exactly(self, buffer, n):
        view = memoryview(buffer)
        got = 0
        while got < n:
            k = self._sock.recv_into(view[got:n], n - got)
            if k == 0:
                raise ConnectionError("the parameter server closed the connection")
            got += k

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
