package sparkeras.codec

import java.nio.{ByteOrder, FloatBuffer}

import com.google.protobuf.UnsafeByteOperations
import sparkeras.wire.Wire.{DType, Tensor}

/** Conversions between wire tensors (raw little-endian bytes) and float arrays, without extra copies. */
object Tensors {
  private val unsafe: sun.misc.Unsafe = {
    val f = classOf[sun.misc.Unsafe].getDeclaredField("theUnsafe")
    f.setAccessible(true)
    f.get(null).asInstanceOf[sun.misc.Unsafe]
  }
  private val floatBase = unsafe.arrayBaseOffset(classOf[Array[Float]]).toLong
  private val byteBase = unsafe.arrayBaseOffset(classOf[Array[Byte]]).toLong
  // Raw memory copies between float[] and byte[] are only the wire's byte order on little-endian machines.
  private val nativeIsLittle = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN

  /** Writes `values` into `bytes` as little-endian floats: a plain memory copy where the CPU allows. */
  def copyToBytes(values: Array[Float], bytes: Array[Byte], offset: Int = 0): Unit = {
    require(offset >= 0 && bytes.length - offset >= values.length * 4)
    if (nativeIsLittle) unsafe.copyMemory(values, floatBase, bytes, byteBase + offset, values.length.toLong * 4)
    else java.nio.ByteBuffer.wrap(bytes, offset, values.length * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values)
  }

  /** Reads little-endian floats from `bytes` at `offset` into `values`. */
  def copyToFloats(bytes: Array[Byte], offset: Int, values: Array[Float]): Unit = {
    require(offset >= 0 && bytes.length - offset >= values.length * 4)
    if (nativeIsLittle) unsafe.copyMemory(bytes, byteBase + offset, values, floatBase, values.length.toLong * 4)
    else java.nio.ByteBuffer.wrap(bytes, offset, values.length * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values)
  }

  /** Reads `count` little-endian floats from `bytes` at `offset` into `values` at `at`. */
  def copyToFloats(bytes: Array[Byte], offset: Int, values: Array[Float], at: Int, count: Int): Unit = {
    require(offset >= 0 && at >= 0 && count >= 0 && bytes.length - offset >= count * 4 && values.length - at >= count)
    if (nativeIsLittle) unsafe.copyMemory(bytes, byteBase + offset, values, floatBase + at * 4L, count * 4L)
    else java.nio.ByteBuffer.wrap(bytes, offset, count * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values, at, count)
  }

  /** Writes `count` floats of `values` from `from` into the start of `bytes`, little-endian. */
  def copyToBytes(values: Array[Float], from: Int, count: Int, bytes: Array[Byte]): Unit = {
    require(from >= 0 && count >= 0 && values.length - from >= count && bytes.length >= count * 4)
    if (nativeIsLittle) unsafe.copyMemory(values, floatBase + from * 4L, bytes, byteBase, count * 4L)
    else java.nio.ByteBuffer.wrap(bytes, 0, count * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values, from, count)
  }

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

  /** Checks a FLOAT32 tensor of `into.length` values and copies them into `into`, via `staging`. */
  def readFloats(t: Tensor, into: Array[Float], staging: Array[Byte], what: String): Unit = {
    floatView(t, into.length, what) // validates dtype and size
    t.getData.copyTo(staging, 0)
    copyToFloats(staging, 0, into)
  }

  /** A FLOAT32 tensor's values as a new array. */
  def toArray(t: Tensor, what: String): Array[Float] = {
    val out = new Array[Float]((t.getData.size / 4).toInt)
    floatView(t, out.length, what).get(out)
    out
  }

  def fromArray(values: Array[Float]): Tensor = {
    val bytes = new Array[Byte](values.length * 4)
    copyToBytes(values, bytes)
    Tensor.newBuilder().setDtype(DType.FLOAT32).addShape(values.length.toLong)
      .setData(UnsafeByteOperations.unsafeWrap(bytes)).build()
  }
}
