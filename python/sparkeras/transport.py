"""Client side of the parameter-server protocol: length-prefixed protobuf frames over TCP.

Tensors travel as raw little-endian bytes; nothing on the wire is pickled.
"""
import socket
import struct

import numpy as np

from sparkeras.wire import sparkeras_pb2 as wire

_HEADER = struct.Struct(">I")
_DTYPES = {
    np.dtype("<f4"): wire.FLOAT32,
    np.dtype("<f8"): wire.FLOAT64,
    np.dtype("<i4"): wire.INT32,
    np.dtype("<i8"): wire.INT64,
}
_NUMPY = {v: k for k, v in _DTYPES.items()}


class ServerError(RuntimeError):
    """The parameter server refused a request; the message says why."""


def to_tensor(array, out=None):
    """A wire Tensor holding `array`'s bytes (little-endian, row-major)."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    if dtype not in _DTYPES:
        array = array.astype("<f4")
        dtype = array.dtype
    tensor = out if out is not None else wire.Tensor()
    tensor.dtype = _DTYPES[dtype]
    del tensor.shape[:]
    tensor.shape.extend(array.shape)
    tensor.data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return tensor


def from_tensor(tensor):
    """A read-only numpy view over a wire Tensor's bytes."""
    if tensor.dtype not in _NUMPY:
        raise ValueError(f"unsupported tensor dtype {tensor.dtype}")
    return np.frombuffer(tensor.data, dtype=_NUMPY[tensor.dtype]).reshape(tuple(tensor.shape))


def _varint(value):
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number, payload_length):
    """The tag and length that open a length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(payload_length)


def encode_push(kind, base_version, samples, values, want_weights=True):
    """An Envelope{push} as a list of buffers whose last one is `values` itself, so the
    tensor's bytes go from numpy to the socket without a copy. Protobuf's encoding of a
    message is the concatenation of its fields, so this parses as an ordinary Envelope."""
    values = np.ascontiguousarray(values, dtype="<f4")
    raw = memoryview(values).cast("B")
    tensor_head = wire.Tensor(dtype=wire.FLOAT32, shape=[values.size]).SerializeToString() + _field(3, raw.nbytes)
    push_head = wire.Push(kind=kind, base_version=base_version, samples=samples,
                          want_weights=want_weights).SerializeToString()
    push_head += _field(3, len(tensor_head) + raw.nbytes) + tensor_head
    envelope_head = _field(wire.Envelope.PUSH_FIELD_NUMBER, len(push_head) + raw.nbytes) + push_head
    return [envelope_head, raw]


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


class Connection:
    """One authenticated connection to the parameter server."""

    def __init__(self, host, port, timeout=None):
        self._sock = socket.create_connection((host, port), timeout=30)
        self._sock.settimeout(timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._header = bytearray(4)
        self._buffer = bytearray(1 << 16)

    def hello(self, token_hex, role, partition=0, attempt=0, num_samples=0):
        env = wire.Envelope()
        env.hello.token = bytes.fromhex(token_hex)
        env.hello.role = role
        env.hello.partition = partition
        env.hello.attempt = attempt
        env.hello.num_samples = num_samples
        return self.call(env)

    def call(self, envelope):
        """Sends one envelope and returns the reply; a server Error becomes ServerError."""
        self.send(envelope)
        reply = self.receive()
        if reply.WhichOneof("body") == "error":
            raise ServerError(f"parameter server: {reply.error.message}")
        return reply

    def send(self, envelope):
        payload = envelope.SerializeToString()
        self._sock.sendmsg([_HEADER.pack(len(payload)), payload])

    def call_parts(self, parts):
        """Like `call`, for an envelope already encoded as a list of buffers."""
        total = sum(memoryview(p).nbytes for p in parts)
        buffers = [_HEADER.pack(total)] + list(parts)
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
