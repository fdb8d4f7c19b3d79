package sparkeras.ml

import java.io.{BufferedInputStream, BufferedOutputStream, DataInputStream, File, IOException}
import java.nio.charset.StandardCharsets.UTF_8

import scala.jdk.CollectionConverters._

import sparkeras.codec.{FrameReader, Frames}
import sparkeras.wire.Wire.Envelope

/** A worker failed; the message carries its Python traceback. */
final class PythonWorkerException(message: String) extends RuntimeException(message)

/**
 * One `python -m <module> <command>` process: frames go to its standard input,
 * frames (or one line of JSON) come back on its standard output, and its standard error
 * is kept so that a failure reports the Python traceback instead of hanging.
 */
final class PythonWorker(python: String, module: String, args: Seq[String]) extends AutoCloseable {
  private val builder = new ProcessBuilder((Seq(python, "-m", module) ++ args).asJava)
  PythonWorker.pythonPath.foreach { jar =>
    val env = builder.environment()
    env.put("PYTHONPATH", Option(env.get("PYTHONPATH")).filter(_.nonEmpty).map(jar + File.pathSeparator + _).getOrElse(jar))
  }
  builder.environment().putIfAbsent("TF_CPP_MIN_LOG_LEVEL", "2")
  private val process = try builder.start() catch {
    case e: IOException => throw new PythonWorkerException(
      s"cannot start the Python worker '$python' (set spark.pyspark.python or PYSPARK_PYTHON): ${e.getMessage}")
  }
  private val stderr = new StringBuilder
  private val errThread = new Thread(() => {
    val src = scala.io.Source.fromInputStream(process.getErrorStream, "UTF-8")
    try src.getLines().foreach(line => stderr.synchronized { stderr.append(line).append('\n') }) finally src.close()
  }, "sparkeras-python-stderr")
  errThread.setDaemon(true)
  errThread.start()

  private val in = new BufferedOutputStream(process.getOutputStream, 1 << 20)
  private val reader = new FrameReader(new DataInputStream(new BufferedInputStream(process.getInputStream, 1 << 20)), Int.MaxValue)

  def send(e: Envelope): Unit = try Frames.write(in, e) catch { case _: IOException => fail("stopped reading its input") }

  def receive(): Envelope = (try reader.read() catch { case _: IOException => None }).getOrElse(fail("closed its output"))

  /** Everything the process printed, once it has exited successfully. */
  def output(): String = {
    val text = new String(process.getInputStream.readAllBytes(), UTF_8)
    finish()
    text
  }

  def finish(): Unit = {
    try in.close() catch { case _: IOException => () }
    val code = process.waitFor()
    errThread.join(5000)
    if (code != 0) fail(s"exited with code $code")
  }

  private def fail(what: String): Nothing = {
    process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)
    errThread.join(2000)
    val tail = stderr.synchronized(stderr.toString).linesIterator.toSeq.takeRight(40).mkString("\n")
    throw new PythonWorkerException(s"the Python worker (${args.headOption.getOrElse("")}) $what:\n$tail")
  }

  def close(): Unit = if (process.isAlive) process.destroy()
}

object PythonWorker {
  /** A worker on an executor: the training engine or inference (sparkeras.executor). */
  def executor(python: String, args: Seq[String]): PythonWorker = new PythonWorker(python, "sparkeras.executor", args)

  /** A helper next to the driver: describe, inspect, save (sparkeras.driver.jvm_commands). */
  def driver(python: String, args: Seq[String]): PythonWorker = new PythonWorker(python, "sparkeras.driver.jvm_commands", args)

  /** The jar this class came from: it carries the sparkeras Python package at its root. */
  lazy val pythonPath: Option[String] =
    Option(classOf[PythonWorker].getProtectionDomain.getCodeSource).map(_.getLocation.getPath).filter(_.endsWith(".jar"))

  /** The interpreter for workers: spark.pyspark.python, PYSPARK_PYTHON, else python3. */
  def interpreter(conf: org.apache.spark.SparkConf, explicit: Option[String]): String =
    explicit.filter(_.nonEmpty)
      .orElse(conf.getOption("spark.pyspark.python"))
      .orElse(sys.env.get("PYSPARK_PYTHON"))
      .getOrElse("python3")
}
