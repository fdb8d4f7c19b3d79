package sparkeras

import java.io.{ByteArrayInputStream, ByteArrayOutputStream, DataInputStream, DataOutputStream}
import java.util.concurrent.{CountDownLatch, TimeUnit}

import com.google.protobuf.{ByteString, CodedOutputStream}
import org.scalatest.funsuite.AnyFunSuite
import sparkeras.codec.{FloatSink, FrameReader, MalformedFrameException, StreamedTensorFrame}
import sparkeras.server.ParameterServer
import sparkeras.state.{StagingPool, TrainingJob}
import sparkeras.wire.Wire._

/** Large pushes streamed into the job's staging arrays, and weights streamed out of them. */
class StreamedPushSpec extends AnyFunSuite {
  private final class CountingSink(val size: Int) extends FloatSink {
    var borrowed, released = 0
    def borrow(): Array[Float] = { borrowed += 1; new Array[Float](size) }
    def release(values: Array[Float]): Unit = released += 1
  }

  private def frames(envelopes: Array[Byte]*): FrameReaderFor = {
    val out = new ByteArrayOutputStream()
    val d = new DataOutputStream(out)
    envelopes.foreach { e => d.writeInt(e.length); d.write(e) }
    new FrameReaderFor(out.toByteArray)
  }

  private final class FrameReaderFor(bytes: Array[Byte]) {
    val sink = new CountingSink(3)
    val reader = new FrameReader(new DataInputStream(new ByteArrayInputStream(bytes)), 1 << 20, streamAbove = 0,
      sink = () => sink)
  }

  private def push(values: Array[Float], samples: Long = 7): Push =
    Push.newBuilder().setKind(PushKind.GRADIENT).setValues(TestClient.tensor(values)).setSamples(samples)
      .setWantWeights(true).putRunningMetrics("loss", 0.5).setEpoch(2).build()

  private def envelope(p: Push): Array[Byte] = Envelope.newBuilder().setPush(p).build().toByteArray

  test("a push is decoded into a borrowed array; its other fields parse as sent, and the array goes back") {
    val f = frames(envelope(push(Array(1f, -2f, 3.5f))), envelope(push(Array(4f, 5f, 6f), samples = 9)))
    val first = f.reader.read().get
    val s = f.reader.streamed
    assert(s.values.toSeq == Seq(1f, -2f, 3.5f) && s.refusal == null)
    assert(first.getPush.getSamples == 7 && first.getPush.getWantWeights && first.getPush.getEpoch == 2)
    assert(first.getPush.getRunningMetricsMap.get("loss") == 0.5)
    assert(first.getPush.getValues.getDtype == DType.FLOAT32 && first.getPush.getValues.getShapeList.get(0) == 3L)
    assert(first.getPush.getValues.getData.isEmpty, "the bytes are not kept in the message")
    val second = f.reader.read().get
    assert(f.sink.released == 1, "reading the next frame gave the first array back")
    assert(second.getPush.getSamples == 9 && f.reader.streamed.values.toSeq == Seq(4f, 5f, 6f))
    f.reader.releaseStreamed(); f.reader.releaseStreamed()
    assert(f.reader.read().isEmpty && f.sink.borrowed == 2 && f.sink.released == 2)
  }

  test("fields in any order and unknown fields are read; data before its dtype still decodes") {
    val body = new ByteArrayOutputStream()
    val c = CodedOutputStream.newInstance(body)
    c.writeInt64(Push.SAMPLES_FIELD_NUMBER, 11)
    c.writeString(99, "a field this reader does not know")
    val data = TestClient.tensor(Array(7f, 8f, 9f)).getData
    val tensor = new ByteArrayOutputStream()
    val t = CodedOutputStream.newInstance(tensor)
    t.writeBytes(Tensor.DATA_FIELD_NUMBER, data); t.writeInt64(Tensor.SHAPE_FIELD_NUMBER, 3); t.writeEnum(Tensor.DTYPE_FIELD_NUMBER, 1)
    t.flush()
    c.writeBytes(Push.VALUES_FIELD_NUMBER, ByteString.copyFrom(tensor.toByteArray))
    c.writeFixed32(98, 5); c.writeFixed64(97, 6)
    c.writeEnum(Push.KIND_FIELD_NUMBER, PushKind.DELTA_VALUE)
    c.flush()
    val env = new ByteArrayOutputStream()
    val e = CodedOutputStream.newInstance(env)
    e.writeBytes(Envelope.PUSH_FIELD_NUMBER, ByteString.copyFrom(body.toByteArray)); e.flush()
    val f = frames(env.toByteArray)
    val p = f.reader.read().get.getPush
    assert(p.getSamples == 11 && p.getKind == PushKind.DELTA && p.getValues.getDtype == DType.FLOAT32)
    assert(f.reader.streamed.values.toSeq == Seq(7f, 8f, 9f))
  }

  test("a tensor of the wrong size is skipped undecoded and refused; the next frame still reads") {
    val f = frames(envelope(push(Array(1f, 2f))), envelope(push(Array(1f, 2f, 3f))))
    f.reader.read()
    assert(f.reader.streamed.values == null && f.reader.streamed.refusal.contains("2 floats (8 bytes)") &&
      f.reader.streamed.refusal.contains("3 trainable parameters"))
    assert(f.sink.borrowed == 0)
    f.reader.read()
    assert(f.reader.streamed.values.toSeq == Seq(1f, 2f, 3f))
  }

  test("truncated and malformed pushes fail as malformed frames, and give back what they borrowed") {
    val good = envelope(push(Array(1f, 2f, 3f)))
    // the Push's length says more than the frame holds
    val lying = good.clone(); lying(1) = (lying(1) + 5).toByte
    intercept[MalformedFrameException](frames(lying).reader.read())
    // a varint that never ends
    intercept[MalformedFrameException](frames(Array[Byte](0x22, 11) ++ Array.fill[Byte](11)(0xff.toByte)).reader.read())
    // a group (wire type 3) inside the push
    intercept[MalformedFrameException](frames(Array[Byte](0x22, 2, 0x0b, 0)).reader.read())
    // a push cut in the middle of its data: the stream ends
    val cut = new ByteArrayOutputStream(); val d = new DataOutputStream(cut)
    d.writeInt(good.length); d.write(good, 0, good.length - 2)
    val sink = new CountingSink(3)
    val r = new FrameReader(new DataInputStream(new ByteArrayInputStream(cut.toByteArray)), 1 << 20, 0, () => sink)
    intercept[java.io.IOException](r.read())
    assert(sink.borrowed == sink.released, "an array borrowed by a frame that failed went back")
    // cut inside the tensor's data, after the array was borrowed
    val dataEnd = good.indexOfSlice(TestClient.tensor(Array(1f, 2f, 3f)).getData.toByteArray) + 6
    val inData = new ByteArrayOutputStream(); val e = new DataOutputStream(inData)
    e.writeInt(good.length); e.write(good, 0, dataEnd)
    val sink2 = new CountingSink(3)
    val r2 = new FrameReader(new DataInputStream(new ByteArrayInputStream(inData.toByteArray)), 1 << 20, 0, () => sink2)
    intercept[java.io.IOException](r2.read())
    assert(sink2.borrowed == 1 && sink2.released == 1, "the array of a push cut inside its data went back")
  }

  test("a streamed frame of weights is an ordinary Envelope to protobuf, whatever the field order") {
    val values = Array.tabulate(40000)(i => i * 0.25f - 7f)
    val out = new ByteArrayOutputStream()
    val welcome = Welcome.newBuilder().setWorkerId(3).setVersion(12).setResumePushes(4).build()
    StreamedTensorFrame.write(out, Envelope.WELCOME_FIELD_NUMBER, welcome.toByteArray, Welcome.WEIGHTS_FIELD_NUMBER,
      values, new Array[Byte](1000))
    val bytes = out.toByteArray
    val length = new DataInputStream(new ByteArrayInputStream(bytes)).readInt()
    assert(length == bytes.length - 4)
    val w = Envelope.parseFrom(java.util.Arrays.copyOfRange(bytes, 4, bytes.length)).getWelcome
    assert(w.getWorkerId == 3 && w.getVersion == 12 && w.getResumePushes == 4)
    assert(w.getWeights.getShapeList.get(0) == 40000L && TestClient.floats(w.getWeights).toSeq == values.toSeq)
  }

  test("the staging pool makes at most its count of arrays and makes a borrower wait for one") {
    val pool = new StagingPool(5, 1)
    val a = pool.borrow()
    val got = new CountDownLatch(1)
    val t = new Thread(() => { pool.release(pool.borrow()); got.countDown() }); t.start()
    assert(!got.await(200, TimeUnit.MILLISECONDS), "the second borrower waits while the only array is out")
    pool.release(a)
    assert(got.await(5, TimeUnit.SECONDS) && pool.arrays == 1)
    assert(StagingPool.arraysFor(10000000L, 2, 64L << 20) == 1 && StagingPool.arraysFor(100000L, 2, 64L << 20) == 3)
    assert(StagingPool.arraysFor(10000000L, 8, 0L) == 1)
  }

  test("the heap estimate of a large Adam job is the weights, two slots and one staging array") {
    val n = 10000000L
    val needed = TrainingJob.heapNeeded(n, n, 2, 2, synchronous = false)
    assert(needed == 4L * n * 4, s"$needed bytes")
    // while a checkpoint is written: one more copy of the weights and the two slots
    val checkpointing = TrainingJob.heapNeeded(n, n, 2, 2, false, 0, TrainingJob.StreamAboveBytes,
      TrainingJob.DefaultStagingBytes, checkpointing = true)
    assert(checkpointing == 4L * n * 4 + 4L * n * 3, s"$checkpointing bytes")
  }
}

/** The server's own suites again, with every push, welcome and reply streamed through a single staging array. */
class StreamedParameterServerSpec extends ParameterServerSpec {
  override protected def limits: ParameterServer.Limits = ParameterServer.Limits(streamAboveBytes = 0, stagingBytes = 0)
}

class StreamedRetrySpec extends RetrySpec {
  override protected def limits: ParameterServer.Limits = ParameterServer.Limits(streamAboveBytes = 0, stagingBytes = 0)
}
