package sparkeras.server

import java.nio.file.{Files, Paths}
import java.security.KeyStore
import java.security.cert.Certificate
import javax.net.ssl.{KeyManagerFactory, SSLContext}

import scala.jdk.CollectionConverters._

/**
 * TLS on the parameter server's socket, from Spark's own SSL settings: `spark.ssl.sparkeras.*`
 * where set, else `spark.ssl.*` (Spark's inheritance for each of its protocols). It is on when
 * `enabled` is true there (so `spark.ssl.enabled=true` turns it on with the rest of Spark's
 * SSL). The server presents the key store's key; workers and the driver trust the
 * certificates of the trust store (or, without one, the key store's own chain), which travel
 * to them as PEM with the job's token.
 */
final class ServerTls(val context: SSLContext, val trustedPem: String)

object ServerTls {
  /** TLS from the settings `get` finds, or None when it is not enabled. */
  def fromConf(get: String => Option[String]): Option[ServerTls] = {
    def option(key: String): Option[String] = get(s"spark.ssl.sparkeras.$key").orElse(get(s"spark.ssl.$key"))
    if (!option("enabled").exists(_.trim.toBoolean)) return None
    val keyStorePath = option("keyStore").getOrElse(throw new IllegalArgumentException(
      "TLS for the parameter server is enabled (spark.ssl.enabled or spark.ssl.sparkeras.enabled) but no key store is " +
        "set: set spark.ssl.keyStore (or spark.ssl.sparkeras.keyStore) and its password"))
    val storePassword = option("keyStorePassword").map(_.toCharArray).orNull
    val keys = load(keyStorePath, option("keyStoreType"), storePassword, "key store")
    val managers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm)
    managers.init(keys, option("keyPassword").map(_.toCharArray).getOrElse(storePassword))
    val context = SSLContext.getInstance(option("protocol").getOrElse("TLS"))
    context.init(managers.getKeyManagers, null, null)
    val trusted = option("trustStore").map(p =>
      load(p, option("trustStoreType"), option("trustStorePassword").map(_.toCharArray).orNull, "trust store")).getOrElse(keys)
    val pem = certificatesPem(trusted)
    require(pem.nonEmpty, s"the ${if (option("trustStore").isDefined) "trust" else "key"} store holds no certificate to trust")
    Some(new ServerTls(context, pem))
  }

  private def load(path: String, kind: Option[String], password: Array[Char], what: String): KeyStore = {
    val store = KeyStore.getInstance(kind.getOrElse(KeyStore.getDefaultType))
    val in = try Files.newInputStream(Paths.get(path))
    catch { case e: java.io.IOException => throw new IllegalArgumentException(s"cannot read the $what $path: $e", e) }
    try store.load(in, password) finally in.close()
    store
  }

  /** Every certificate in `store` (trusted entries and the chains of key entries), PEM-encoded, each once. */
  def certificatesPem(store: KeyStore): String = {
    val certificates = store.aliases().asScala.toSeq.flatMap { alias =>
      if (store.isCertificateEntry(alias)) Seq(store.getCertificate(alias))
      else Option(store.getCertificateChain(alias)).map(_.toSeq).getOrElse(Nil)
    }.distinct
    val encoder = java.util.Base64.getMimeEncoder(64, "\n".getBytes("US-ASCII"))
    certificates.map((c: Certificate) =>
      s"-----BEGIN CERTIFICATE-----\n${encoder.encodeToString(c.getEncoded)}\n-----END CERTIFICATE-----\n").mkString
  }
}
