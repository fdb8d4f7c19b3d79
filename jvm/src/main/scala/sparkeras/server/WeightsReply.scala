package sparkeras.server

import java.io.{ByteArrayOutputStream, OutputStream}

import com.google.protobuf.CodedOutputStream
import sparkeras.state.ParameterStore
import sparkeras.wire.Wire.{DType, Envelope, Tensor, Weights}

/**
 * Writes an Envelope{weights} frame with one socket write and one copy of the weights:
 * they are snapshotted straight into the frame buffer, behind a head encoded by hand
 * (protobuf's encoding of a message is the concatenation of its fields, so this is an
 * ordinary Envelope to any reader).
 */
final class WeightsReply {
  private val reserve = 64 // the frame length and every protobuf head fit in this
  private var frame: Array[Byte] = Array.emptyByteArray

  /** `pulled`: where the server keeps what this worker pulled (ADAG), or null. */
  def write(out: OutputStream, store: ParameterStore, pulled: Array[Float] = null): Unit = {
    val n = store.size
    val dataBytes = n * 4
    if (frame.length != reserve + dataBytes) frame = new Array[Byte](reserve + dataBytes)
    val version = store.snapshotBytes(frame, reserve, pulled)
    val head = encodeHead(version, n, dataBytes)
    val start = reserve - head.length
    System.arraycopy(head, 0, frame, start, head.length)
    out.write(frame, start, head.length + dataBytes)
    out.flush()
  }

  private def encodeHead(version: Long, n: Int, dataBytes: Int): Array[Byte] = {
    val tensorHead = concat(
      Tensor.newBuilder().setDtype(DType.FLOAT32).addShape(n.toLong).build().toByteArray,
      fieldHead(Tensor.DATA_FIELD_NUMBER, dataBytes))
    val weightsHead = concat(
      Weights.newBuilder().setVersion(version).build().toByteArray,
      fieldHead(Weights.VALUES_FIELD_NUMBER, tensorHead.length + dataBytes),
      tensorHead)
    val envelopeHead = concat(fieldHead(Envelope.WEIGHTS_FIELD_NUMBER, weightsHead.length + dataBytes), weightsHead)
    val frameLength = envelopeHead.length + dataBytes
    concat(Array((frameLength >>> 24).toByte, (frameLength >>> 16).toByte, (frameLength >>> 8).toByte, frameLength.toByte),
      envelopeHead)
  }

  private def fieldHead(field: Int, length: Int): Array[Byte] = {
    val bytes = new ByteArrayOutputStream(16)
    val coded = CodedOutputStream.newInstance(bytes)
    coded.writeTag(field, 2) // length-delimited
    coded.writeUInt32NoTag(length)
    coded.flush()
    bytes.toByteArray
  }

  private def concat(parts: Array[Byte]*): Array[Byte] = parts.foldLeft(Array.emptyByteArray)(_ ++ _)
}
