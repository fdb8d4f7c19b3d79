package sparkeras.codec

import java.io.{DataInputStream, EOFException, IOException, OutputStream}

import com.google.protobuf.{CodedInputStream, CodedOutputStream, UnsafeByteOperations}
import sparkeras.wire.Wire.Envelope

/** A frame announced a length over the cap; nothing after the length was read. */
final class FrameTooLargeException(val length: Long, val cap: Int)
    extends IOException(s"frame of $length bytes exceeds the cap of $cap bytes")

/** A frame arrived whole but is not a valid Envelope. */
final class MalformedFrameException(cause: Throwable)
    extends IOException(s"frame is not a valid sparkeras envelope: ${cause.getMessage}", cause)

/**
 * Length-prefixed protobuf frames: a 4-byte big-endian length, then one Envelope.
 * One reader per connection; its buffer is reused. A Push's byte fields alias it (no copy of
 * the tensor, and no garbage, per push), so a push must be consumed before the next frame is
 * read; other messages are parsed into copies, since a job keeps its configuration.
 *
 * Frames over `streamAbove` bytes are not kept: a Push is streamed into an array of the
 * job's `sink` (see `streamed`), any other large frame is read into a buffer of its own that
 * is dropped afterwards. So a connection holds at most `streamAbove` bytes between frames.
 */
final class FrameReader(in: DataInputStream, cap: Int, streamAbove: Int = Int.MaxValue,
                        sink: () => FloatSink = () => null) {
  // Grown on demand, so that a connection costs nothing until it sends a frame.
  private var buffer = Array.emptyByteArray
  private var chunk: Array[Byte] = null
  private var lastStreamed: StreamedPush = null
  private var lastSink: FloatSink = null

  /**
   * The push the last `read` streamed (its floats borrowed from the sink), or null. The caller
   * gives the floats back with `releaseStreamed` once the push is applied.
   */
  def streamed: StreamedPush = lastStreamed

  /** Returns the last streamed push's floats to the sink (safe to call twice). */
  def releaseStreamed(): Unit = {
    val s = lastStreamed
    lastStreamed = null
    if (s != null && s.values != null) lastSink.release(s.values)
  }

  /** The next envelope (of at most `limit` bytes), or None when the peer closed the connection cleanly. */
  def read(limit: Int = cap): Option[Envelope] = {
    releaseStreamed()
    val first = in.read()
    if (first < 0) return None
    val rest = try in.readUnsignedByte() << 16 | in.readUnsignedByte() << 8 | in.readUnsignedByte()
    catch { case _: EOFException => throw new IOException("connection closed inside a frame header") }
    val length = (first.toLong << 24) | rest
    if (length > limit) throw new FrameTooLargeException(length, limit)
    val n = length.toInt
    if (n > streamAbove) return readLarge(n)
    if (buffer.length < n) buffer = new Array[Byte](math.max(n, buffer.length * 2).min(math.min(limit, streamAbove)))
    in.readFully(buffer, 0, n)
    parse(buffer, n, alias = n > 0 && buffer(0) == FrameReader.PushTag)
  }

  private def readLarge(n: Int): Option[Envelope] = {
    val s = sink()
    // The first byte is the body's tag: field 4 (push), length-delimited, is one byte.
    val first = in.read()
    if (first < 0) throw new IOException("connection closed inside a frame")
    if (s != null && first == FrameReader.PushTag) {
      if (chunk == null) chunk = new Array[Byte](64 * 1024)
      val pushed = new PushStreamReader(in, chunk).read(n - 1, s)
      lastStreamed = pushed
      lastSink = s
      Some(Envelope.newBuilder().setPush(pushed.push).build())
    } else {
      val whole = new Array[Byte](n)
      whole(0) = first.toByte
      in.readFully(whole, 1, n - 1)
      parse(whole, n, alias = false)
    }
  }

  private def parse(bytes: Array[Byte], n: Int, alias: Boolean): Option[Envelope] = {
    // Protobuf aliases byte fields only when its input is marked immutable, as a wrapped ByteString's is.
    val coded = if (alias) UnsafeByteOperations.unsafeWrap(bytes, 0, n).newCodedInput()
                else CodedInputStream.newInstance(bytes, 0, n)
    coded.enableAliasing(alias)
    try Some(Envelope.parseFrom(coded))
    catch { case e: com.google.protobuf.InvalidProtocolBufferException => throw new MalformedFrameException(e) }
  }
}

object FrameReader {
  /** The first byte of a Push envelope: field 4 (push), length-delimited. */
  val PushTag: Byte = (Envelope.PUSH_FIELD_NUMBER << 3 | 2).toByte
}

object Frames {
  def write(out: OutputStream, envelope: Envelope): Unit = {
    val size = envelope.getSerializedSize
    out.write(Array[Byte]((size >>> 24).toByte, (size >>> 16).toByte, (size >>> 8).toByte, size.toByte))
    val coded = CodedOutputStream.newInstance(out, math.min(64 * 1024, math.max(size, 16)))
    envelope.writeTo(coded)
    coded.flush()
    out.flush()
  }
}
