"""Tensors as raw little-endian bytes, and a push envelope encoded without copying its
tensor. Nothing on the wire is pickled."""
import numpy as np

from sparkeras.wire import sparkeras_pb2 as wire

_DTYPES = {
    np.dtype("<f4"): wire.FLOAT32,
    np.dtype("<f8"): wire.FLOAT64,
    np.dtype("<i4"): wire.INT32,
    np.dtype("<i8"): wire.INT64,
}
_NUMPY = {v: k for k, v in _DTYPES.items()}


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


def encode_push(kind, base_version, samples, values, want_weights=True, running_metrics=None, epoch=0):
    """An Envelope{push} as a list of buffers whose last one is `values` itself, so the
    tensor's bytes go from numpy to the socket without a copy. Protobuf's encoding of a
    message is the concatenation of its fields, so this parses as an ordinary Envelope."""
    values = np.ascontiguousarray(values, dtype="<f4")
    raw = memoryview(values).cast("B")
    tensor_head = wire.Tensor(dtype=wire.FLOAT32, shape=[values.size]).SerializeToString() + _field(3, raw.nbytes)
    push_head = wire.Push(kind=kind, base_version=base_version, samples=samples, want_weights=want_weights,
                          running_metrics=running_metrics or {}, epoch=epoch).SerializeToString()
    push_head += _field(3, len(tensor_head) + raw.nbytes) + tensor_head
    envelope_head = _field(wire.Envelope.PUSH_FIELD_NUMBER, len(push_head) + raw.nbytes) + push_head
    return [envelope_head, raw]
