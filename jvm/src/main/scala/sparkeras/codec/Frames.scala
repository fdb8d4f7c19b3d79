package sparkeras.codec

import java.io.{DataInputStream, EOFException, IOException, OutputStream}

import com.google.protobuf.{CodedInputStream, CodedOutputStream}
import sparkeras.wire.Wire.Envelope

/** A frame announced a length over the cap; nothing after the length was read. */
final class FrameTooLargeException(val length: Long, val cap: Int)
    extends IOException(s"frame of $length bytes exceeds the cap of $cap bytes")

/** A frame arrived whole but is not a valid Envelope. */
final class MalformedFrameException(cause: Throwable)
    extends IOException(s"frame is not a valid sparkeras envelope: ${cause.getMessage}", cause)

/**
 * Length-prefixed protobuf frames: a 4-byte big-endian length, then one Envelope.
 * One reader per connection; its buffer is reused, and parsed byte fields alias
 * it, so a message must be consumed before the next frame is read.
 */
final class FrameReader(in: DataInputStream, cap: Int) {
  // Grown on demand, so that a connection costs nothing until it sends a frame.
  private var buffer = Array.emptyByteArray

  /** The next envelope (of at most `limit` bytes), or None when the peer closed the connection cleanly. */
  def read(limit: Int = cap): Option[Envelope] = {
    val first = in.read()
    if (first < 0) return None
    val rest = try in.readUnsignedByte() << 16 | in.readUnsignedByte() << 8 | in.readUnsignedByte()
    catch { case _: EOFException => throw new IOException("connection closed inside a frame header") }
    val length = (first.toLong << 24) | rest
    if (length > limit) throw new FrameTooLargeException(length, limit)
    val n = length.toInt
    if (buffer.length < n) buffer = new Array[Byte](math.max(n, buffer.length * 2).min(limit))
    in.readFully(buffer, 0, n)
    val coded = CodedInputStream.newInstance(buffer, 0, n)
    coded.enableAliasing(true)
    try Some(Envelope.parseFrom(coded))
    catch { case e: com.google.protobuf.InvalidProtocolBufferException => throw new MalformedFrameException(e) }
  }
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
