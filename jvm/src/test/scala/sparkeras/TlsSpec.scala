package sparkeras

import java.io.ByteArrayInputStream
import java.nio.file.Files
import java.security.KeyStore
import java.security.cert.CertificateFactory
import javax.net.ssl.{SSLContext, SSLException, TrustManagerFactory}

import scala.jdk.CollectionConverters._

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.server.{Coordinator, ParameterServer, ServerTls}
import sparkeras.wire.Wire._

/** TLS on the parameter server's socket, configured from Spark's SSL settings. */
class TlsSpec extends AnyFunSuite {
  private lazy val keyStore: String = {
    val dir = Files.createTempDirectory("sparkeras-tls")
    val path = dir.resolve("server.p12").toString
    val keytool = s"${System.getProperty("java.home")}/bin/keytool"
    val code = scala.sys.process.Process(Seq(keytool, "-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048",
      "-dname", "CN=sparkeras-test", "-validity", "2", "-storetype", "PKCS12", "-keystore", path,
      "-storepass", "pass-word", "-keypass", "pass-word")).!
    assert(code == 0, "keytool failed")
    path
  }

  private def settings(extra: (String, String)*): String => Option[String] = (extra.toMap ++ Map(
    "spark.ssl.sparkeras.keyStore" -> keyStore, "spark.ssl.keyStorePassword" -> "pass-word")).get

  /** A client context trusting exactly the PEM certificates the server hands its clients. */
  private def trusting(pem: String): SSLContext = {
    val certificates = CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem.getBytes("US-ASCII")))
    val store = KeyStore.getInstance(KeyStore.getDefaultType); store.load(null, null)
    certificates.asScala.zipWithIndex.foreach { case (c, i) => store.setCertificateEntry(s"c$i", c) }
    val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm); tmf.init(store)
    val context = SSLContext.getInstance("TLS"); context.init(null, tmf.getTrustManagers, null); context
  }

  test("TLS is off unless enabled, and spark.ssl.sparkeras.* overrides spark.ssl.*") {
    assert(ServerTls.fromConf(settings()).isEmpty)
    assert(ServerTls.fromConf(settings("spark.ssl.enabled" -> "true", "spark.ssl.sparkeras.enabled" -> "false")).isEmpty)
    val tls = ServerTls.fromConf(settings("spark.ssl.enabled" -> "true")).get
    assert(tls.trustedPem.startsWith("-----BEGIN CERTIFICATE-----\n") && tls.trustedPem.trim.endsWith("-----END CERTIFICATE-----"))
    val missing = intercept[IllegalArgumentException](ServerTls.fromConf(Map("spark.ssl.enabled" -> "true").get))
    assert(missing.getMessage.contains("spark.ssl.keyStore"))
    val wrong = intercept[IllegalArgumentException](ServerTls.fromConf(Map("spark.ssl.enabled" -> "true",
      "spark.ssl.keyStore" -> "/nonexistent/store.p12").get))
    assert(wrong.getMessage.contains("cannot read the key store /nonexistent/store.p12"))
  }

  test("a TLS server trains with clients that trust its certificate; a plain client gets no frame") {
    val tls = ServerTls.fromConf(settings("spark.ssl.sparkeras.enabled" -> "true")).get
    val coordinator = new Coordinator("127.0.0.1", 1 << 20, null, () => (), ParameterServer.Limits(),
      new org.apache.hadoop.conf.Configuration(), Some(tls))
    try {
      assert(coordinator.getTlsTrust == tls.trustedPem)
      val token = coordinator.getToken.grouped(2).map(Integer.parseInt(_, 16).toByte).toArray
      val factory = trusting(coordinator.getTlsTrust).getSocketFactory
      val driver = new TestClient(coordinator.getPort, factory)
      assert(driver.hello(token, Role.DRIVER).hasAck)
      assert(driver.call(Envelope.newBuilder().setJobConfig(TestClient.config("asynchronous", Array(1f, 2f))).build()).hasAck)
      val worker = new TestClient(coordinator.getPort, factory)
      assert(worker.hello(token, Role.WORKER).hasAck && worker.join(10).hasWelcome)
      assert(worker.push(Array(0.5f, 0.5f)).hasAck && worker.pull().toSeq == Seq(0.5f, 1.5f))
      // A plain client's Hello is answered by a TLS alert record (type 21) or a closed connection, never a frame.
      val plain = new java.net.Socket("127.0.0.1", coordinator.getPort)
      try {
        val hello = Envelope.newBuilder().setHello(Hello.newBuilder().setToken(com.google.protobuf.ByteString.copyFrom(token))
          .setRole(Role.WORKER)).build().toByteArray
        val out = new java.io.DataOutputStream(plain.getOutputStream)
        out.writeInt(hello.length); out.write(hello); out.flush()
        plain.setSoTimeout(15000)
        val first = scala.util.Try(plain.getInputStream.read()).getOrElse(-1)
        assert(first == -1 || first == 21, s"a plain client got byte $first back")
      } finally plain.close()
      assert(intercept[SSLException](new TestClient(coordinator.getPort, SSLContext.getDefault.getSocketFactory)
        .hello(token, Role.WORKER)) != null, "a client that does not trust the certificate fails the handshake")
      assert(worker.pull().toSeq == Seq(0.5f, 1.5f), "the weights are untouched")
    } finally coordinator.stop()
  }
}
