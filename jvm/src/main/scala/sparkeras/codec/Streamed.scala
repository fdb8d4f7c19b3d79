package sparkeras.codec

import java.io.{ByteArrayOutputStream, DataInputStream, EOFException, IOException, OutputStream}

import com.google.protobuf.{ByteString, CodedOutputStream}
import sparkeras.wire.Wire.{DType, Envelope, Push, Tensor}

/** Where a large push's floats go: arrays of `size` floats lent by the job, one per push in flight. */
trait FloatSink {
  def size: Int
  /** An array of `size` floats, waiting for one to be free. */
  def borrow(): Array[Float]
  def release(values: Array[Float]): Unit
}

/** What a streamed push read: the Push without its tensor's bytes, and their floats (or why they were refused). */
final case class StreamedPush(push: Push, values: Array[Float], refusal: String)

/**
 * Reads one large Push frame straight off the socket: the tensor's bytes are decoded in
 * small chunks into an array borrowed from the job, so a push costs no frame buffer and no
 * second copy. Every other field is kept as sent and parsed by protobuf; fields may come
 * in any order. A tensor of the wrong size is skipped, not decoded, and reported as a refusal.
 */
private[codec] final class PushStreamReader(in: DataInputStream, chunk: Array[Byte]) {
  private var left = 0L // bytes of the frame not read yet
  private var borrowed: Array[Float] = null // the sink's array, once taken: given back if the frame fails

  /** `remaining`: the frame's bytes after its first, the Push field's tag, which the caller read. */
  def read(remaining: Int, sink: FloatSink): StreamedPush = {
    left = remaining
    val length = varint()
    if (length != left)
      throw malformed("a streamed frame must hold exactly one Push")
    var refusal: String = null
    val rest = new ByteArrayOutputStream(64)
    val coded = CodedOutputStream.newInstance(rest)
    try {
      while (left > 0) {
        val t = varint()
        if ((t >>> 3) == Push.VALUES_FIELD_NUMBER && (t & 7) == 2) {
          val (head, why) = readTensor(varint(), sink)
          if (why != null) refusal = why
          coded.writeTag(Push.VALUES_FIELD_NUMBER, 2)
          coded.writeUInt32NoTag(head.length)
          coded.writeRawBytes(head)
        } else copyField(t, coded)
      }
      coded.flush()
      val push = try Push.parseFrom(rest.toByteArray)
      catch { case e: com.google.protobuf.InvalidProtocolBufferException => throw new MalformedFrameException(e) }
      StreamedPush(push, borrowed, refusal)
    } catch {
      case e: Throwable => if (borrowed != null) { sink.release(borrowed); borrowed = null }; throw e
    }
  }

  /** The tensor's fields without its bytes, and why it is refused (or null); its floats go into `borrowed`. */
  private def readTensor(length: Long, sink: FloatSink): (Array[Byte], String) = {
    if (length > left) throw malformed("a tensor runs past the end of its frame")
    val end = left - length
    val head = new ByteArrayOutputStream(32)
    val coded = CodedOutputStream.newInstance(head)
    var refusal: String = null
    while (left > end) {
      val t = varint()
      if ((t >>> 3) == Tensor.DATA_FIELD_NUMBER && (t & 7) == 2) {
        val bytes = varint()
        if (bytes > left - end) throw malformed("tensor data runs past the end of its tensor")
        if (bytes != sink.size.toLong * 4) {
          refusal = s"the pushed tensor has ${bytes / 4} floats ($bytes bytes) but the model has ${sink.size} trainable parameters"
          skip(bytes)
        } else {
          if (borrowed == null) borrowed = sink.borrow()
          decode(borrowed)
        }
      } else copyField(t, coded)
    }
    if (left != end) throw malformed("a tensor's fields overrun it")
    if (borrowed == null && refusal == null)
      refusal = s"the pushed tensor has no data but the model has ${sink.size} trainable parameters"
    coded.flush()
    (head.toByteArray, refusal)
  }

  private def decode(values: Array[Float]): Unit = {
    var done = 0
    while (done < values.length) {
      val n = math.min(chunk.length / 4, values.length - done)
      fill(chunk, n * 4)
      Tensors.copyToFloats(chunk, 0, values, done, n)
      done += n
    }
  }

  /** Copies one field (tag already read) as it is, so that protobuf parses it afterwards. */
  private def copyField(tag: Long, out: CodedOutputStream): Unit = {
    if (tag >>> 3 == 0) throw malformed("field number 0")
    out.writeUInt32NoTag(tag.toInt)
    tag & 7 match {
      case 0 => out.writeUInt64NoTag(varint())
      case 1 => fill(chunk, 8); out.writeRawBytes(chunk, 0, 8)
      case 5 => fill(chunk, 4); out.writeRawBytes(chunk, 0, 4)
      case 2 =>
        val n = varint()
        // Only the tensor is large; any other field of a Push is a few bytes (metrics, counters).
        if (n > math.min(left, 1L << 20)) throw malformed(s"a field of $n bytes in a push")
        val bytes = new Array[Byte](n.toInt)
        fill(bytes, n.toInt)
        out.writeUInt32NoTag(n.toInt)
        out.writeRawBytes(bytes)
      case other => throw malformed(s"wire type $other")
    }
  }

  private def fill(into: Array[Byte], n: Int): Unit = {
    if (n > left) throw malformed("a field runs past the end of its frame")
    try in.readFully(into, 0, n) catch { case _: EOFException => throw new IOException("connection closed inside a frame") }
    left -= n
  }

  private def skip(n: Long): Unit = {
    var rest = n
    while (rest > 0) { val k = math.min(rest, chunk.length.toLong).toInt; fill(chunk, k); rest -= k }
  }

  private def varint(): Long = {
    var result = 0L
    var shift = 0
    while (shift < 64) {
      if (left <= 0) throw malformed("a varint runs past the end of its frame")
      val b = in.read()
      if (b < 0) throw new IOException("connection closed inside a frame")
      left -= 1
      result |= (b & 0x7fL) << shift
      if ((b & 0x80) == 0) return result
      shift += 7
    }
    throw malformed("a varint longer than 10 bytes")
  }

  private def malformed(what: String) =
    new MalformedFrameException(new com.google.protobuf.InvalidProtocolBufferException(what))
}

/**
 * Writes an Envelope whose body is a message with one large float tensor, streamed from a
 * float array in chunks: the frame is `prefix` (the message's other fields, encoded) followed
 * by the tensor field. Protobuf accepts fields in any order, so readers see an ordinary message.
 */
object StreamedTensorFrame {
  def write(out: OutputStream, envelopeField: Int, prefix: Array[Byte], tensorField: Int, values: Array[Float],
            chunk: Array[Byte]): Unit = {
    val dataBytes = values.length.toLong * 4
    val tensorHead = Tensor.newBuilder().setDtype(DType.FLOAT32).addShape(values.length.toLong).build().toByteArray
    val tensorLength = tensorHead.length + tag(Tensor.DATA_FIELD_NUMBER) + varintSize(dataBytes) + dataBytes
    val bodyLength = prefix.length + tag(tensorField) + varintSize(tensorLength) + tensorLength
    val frameLength = tag(envelopeField) + varintSize(bodyLength) + bodyLength
    require(frameLength < Int.MaxValue, s"a frame of $frameLength bytes")
    val head = new ByteArrayOutputStream(64 + prefix.length)
    head.write(Array((frameLength >>> 24).toByte, (frameLength >>> 16).toByte, (frameLength >>> 8).toByte, frameLength.toByte))
    val coded = CodedOutputStream.newInstance(head)
    coded.writeTag(envelopeField, 2); coded.writeUInt64NoTag(bodyLength)
    coded.writeRawBytes(prefix)
    coded.writeTag(tensorField, 2); coded.writeUInt64NoTag(tensorLength)
    coded.writeRawBytes(tensorHead)
    coded.writeTag(Tensor.DATA_FIELD_NUMBER, 2); coded.writeUInt64NoTag(dataBytes)
    coded.flush()
    head.writeTo(out)
    var done = 0
    while (done < values.length) {
      val n = math.min(chunk.length / 4, values.length - done)
      Tensors.copyToBytes(values, done, n, chunk)
      out.write(chunk, 0, n * 4)
      done += n
    }
    out.flush()
  }

  private def tag(field: Int): Int = CodedOutputStream.computeTagSize(field)
  private def varintSize(n: Long): Int = CodedOutputStream.computeUInt64SizeNoTag(n)
}
