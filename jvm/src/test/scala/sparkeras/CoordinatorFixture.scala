package sparkeras

import org.scalatest.{BeforeAndAfterEach, Suite}
import sparkeras.server.{Coordinator, ParameterServer}
import sparkeras.wire.Wire._

/** A fresh coordinator on 127.0.0.1 for every test, its token, and a driver that configures the job. */
trait CoordinatorFixture extends BeforeAndAfterEach { this: Suite =>
  protected var coordinator: Coordinator = _
  protected def token: Array[Byte] = coordinator.getToken.grouped(2).map(Integer.parseInt(_, 16).toByte).toArray

  /** The server's limits; a suite that sets `streamAboveBytes` to 0 runs every push and reply through the staging arrays. */
  protected def limits: ParameterServer.Limits = ParameterServer.Limits()
  protected def newCoordinator(): Coordinator =
    new Coordinator("127.0.0.1", 1 << 20, null, () => (), limits, new org.apache.hadoop.conf.Configuration())

  override def beforeEach(): Unit = { coordinator = newCoordinator(); super.beforeEach() }
  override def afterEach(): Unit = try super.afterEach() finally coordinator.stop()

  protected def configure(c: JobConfig): Unit = {
    val driver = new TestClient(coordinator.getPort)
    assert(driver.hello(token, Role.DRIVER).hasAck)
    val r = driver.call(Envelope.newBuilder().setJobConfig(c).build())
    assert(r.hasAck, r.toString)
    driver.close()
  }
}
