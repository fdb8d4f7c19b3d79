package sparkeras

import java.io.{ByteArrayInputStream, ByteArrayOutputStream, DataInputStream, DataOutputStream}
import java.lang.management.ManagementFactory

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.codec.FrameReader
import sparkeras.wire.Wire._

/** Frames below the streaming threshold: a push is parsed without copying its tensor; other messages are copies. */
class FrameReaderSpec extends AnyFunSuite {
  private def reader(envelopes: Seq[Envelope]): FrameReader = {
    val out = new ByteArrayOutputStream()
    val d = new DataOutputStream(out)
    envelopes.foreach { e => val b = e.toByteArray; d.writeInt(b.length); d.write(b) }
    new FrameReader(new DataInputStream(new ByteArrayInputStream(out.toByteArray)), 1 << 24)
  }

  private def push(values: Array[Float]): Envelope = Envelope.newBuilder().setPush(
    Push.newBuilder().setKind(PushKind.GRADIENT).setValues(TestClient.tensor(values)).setSamples(1)).build()

  private def allocatedBytes(): Long =
    ManagementFactory.getThreadMXBean.asInstanceOf[com.sun.management.ThreadMXBean].getCurrentThreadAllocatedBytes

  test("a kept configuration survives the frames read after it (its bytes are copied, not aliased)") {
    val kept = Array.tabulate(1000)(i => i * 0.5f)
    val config = Envelope.newBuilder().setJobConfig(JobConfig.newBuilder().setMode("asynchronous")
      .addInitialWeights(TestClient.tensor(kept))).build()
    val r = reader(Seq(config, push(Array.fill(1000)(-7f)), push(Array.fill(1000)(9f))))
    val first = r.read().get
    val second = r.read().get
    assert(second.getPush.getValues.getData.size == 4000)
    r.read()
    val bytes = first.getJobConfig.getInitialWeights(0).getData.toByteArray
    val back = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    assert((0 until 1000).forall(i => back.get(i) == kept(i)), "the configuration's tensor was overwritten")
  }

  test("pushes of a 118k-parameter model are parsed without allocating their tensor's bytes") {
    val n = 118282
    val frames = 50
    val r = reader(Seq.tabulate(frames)(i => push(Array.fill(n)(i.toFloat))))
    (0 until 5).foreach(_ => r.read()) // the buffer grows to the frame's size once
    val before = allocatedBytes()
    var sum = 0.0
    (5 until frames).foreach { i =>
      val p = r.read().get.getPush
      assert(p.getValues.getData.size == n * 4L)
      sum += p.getValues.getData.asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(0)
    }
    val perPush = (allocatedBytes() - before) / (frames - 5)
    assert(sum == (5 until frames).map(_.toDouble).sum)
    assert(perPush < n * 4 / 20, s"$perPush bytes allocated per push of ${n * 4} bytes")
  }
}
