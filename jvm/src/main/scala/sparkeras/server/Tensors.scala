package sparkeras.server

import java.nio.{ByteOrder, FloatBuffer}

import com.google.protobuf.UnsafeByteOperations
import sparkeras.wire.Wire.{DType, Tensor}

/** Conversions between wire tensors (raw little-endian bytes) and float arrays, without extra copies. */
object Tensors {
  /** A read-only float view over the tensor's bytes; no copy is made. */
  def floatView(t: Tensor, expectedLength: Int, what: String): FloatBuffer = {
    if (t.getDtype != DType.FLOAT32)
      throw new IllegalArgumentException(s"$what must be FLOAT32, got ${t.getDtype}")
    val bytes = t.getData
    if (bytes.size != expectedLength.toLong * 4)
      throw new IllegalArgumentException(
        s"$what has ${bytes.size / 4} floats (${bytes.size} bytes) but the model has $expectedLength trainable parameters")
    bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
  }

  /** Copies `values` into `scratch` (grown if needed) and wraps it as a flat FLOAT32 tensor. */
  def flat(values: Array[Float], scratch: Array[Byte]): Tensor = {
    java.nio.ByteBuffer.wrap(scratch, 0, values.length * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values)
    Tensor.newBuilder()
      .setDtype(DType.FLOAT32)
      .addShape(values.length.toLong)
      .setData(UnsafeByteOperations.unsafeWrap(scratch, 0, values.length * 4))
      .build()
  }

  def fromArray(values: Array[Float]): Tensor = flat(values, new Array[Byte](values.length * 4))
}
