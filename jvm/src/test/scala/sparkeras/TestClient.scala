package sparkeras

import java.io.{BufferedInputStream, BufferedOutputStream, DataInputStream, DataOutputStream}
import java.net.Socket
import java.nio.{ByteBuffer, ByteOrder}

import com.google.protobuf.ByteString
import sparkeras.codec.{FrameReader, Frames}
import sparkeras.wire.Wire._

/** A minimal blocking client of the parameter server protocol, for tests. */
final class TestClient(port: Int, factory: javax.net.SocketFactory = javax.net.SocketFactory.getDefault) extends AutoCloseable {
  val socket: Socket = factory.createSocket("127.0.0.1", port)
  socket.setTcpNoDelay(true)
  private val out = new BufferedOutputStream(socket.getOutputStream)
  private val reader = new FrameReader(new DataInputStream(new BufferedInputStream(socket.getInputStream)), Int.MaxValue)

  def send(e: Envelope): Unit = Frames.write(out, e)
  def call(e: Envelope): Envelope = { send(e); reader.read().getOrElse(sys.error("connection closed")) }
  def readReply(): Option[Envelope] = reader.read()

  def rawWrite(bytes: Array[Byte]): Unit = { val d = new DataOutputStream(out); d.write(bytes); d.flush() }

  def hello(token: Array[Byte], role: Role, partition: Int = 0, attempt: Int = 0): Envelope =
    call(Envelope.newBuilder().setHello(Hello.newBuilder().setToken(ByteString.copyFrom(token)).setRole(role)
      .setPartition(partition).setAttempt(attempt)).build())

  def join(samples: Long = 0): Envelope = call(Envelope.newBuilder().setJoin(Join.newBuilder().setNumSamples(samples)).build())

  def fail(partition: Int, kind: String, message: String): Envelope =
    call(Envelope.newBuilder().setWorkerFailure(WorkerFailure.newBuilder().setPartition(partition)
      .setExceptionType(kind).setMessage(message).setTraceback("Traceback ...")).build())

  def push(values: Array[Float], kind: PushKind = PushKind.GRADIENT, want: Boolean = false, base: Long = 0,
           samples: Long = 1): Envelope =
    call(Envelope.newBuilder().setPush(Push.newBuilder().setKind(kind).setValues(TestClient.tensor(values))
      .setWantWeights(want).setBaseVersion(base).setSamples(samples)).build())

  def metrics(epoch: Int, samples: Long, loss: Double): Envelope =
    call(Envelope.newBuilder().setEpochMetrics(EpochMetrics.newBuilder().setEpoch(epoch).setSamples(samples)
      .putValues("loss", loss)).build())

  def pull(): Array[Float] = {
    val r = call(Envelope.newBuilder().setPull(Pull.getDefaultInstance).build())
    TestClient.floats(r.getWeights.getValues)
  }

  def close(): Unit = socket.close()
}

object TestClient {
  def tensor(values: Array[Float]): Tensor = {
    val b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN)
    b.asFloatBuffer().put(values)
    Tensor.newBuilder().setDtype(DType.FLOAT32).addShape(values.length.toLong).setData(ByteString.copyFrom(b.array())).build()
  }

  def floats(t: Tensor): Array[Float] = {
    val fb = t.getData.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    val out = new Array[Float](fb.remaining()); fb.get(out); out
  }

  def config(mode: String, initial: Array[Float], rule: String = "sgd", params: Map[String, Double] = Map("learning_rate" -> 1.0),
             workers: Int = 1, batchSize: Int = 10): JobConfig = {
    val b = JobConfig.newBuilder().setMode(mode).setFrequency("batch").setNumWorkers(workers).setEpochs(1)
      .setBatchSize(batchSize).setOptimizerClass(rule).addInitialWeights(tensor(initial)).addTrainableSizes(initial.length.toLong)
    params.foreach { case (k, v) => b.putOptimizerParams(k, v) }
    b.build()
  }
}
