package sparkeras.ml

import java.io.{BufferedInputStream, BufferedOutputStream, DataInputStream, File, IOException}
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

import scala.collection.mutable
import scala.jdk.CollectionConverters._

import sparkeras.codec.{FrameReader, Frames}
import sparkeras.wire.Wire.{Envelope, WorkerCommand}

/** A worker failed; the message carries its Python traceback. */
final class PythonWorkerException(message: String) extends RuntimeException(message)

/**
 * One long-lived `python -m <module> serve` process (sparkeras/wire/pipe_commands.py): each task
 * starts with a WorkerCommand frame on its standard input, then frames go in and frames come
 * back on its standard output. Its standard error is kept (the last 64 KB) so that a failure
 * reports the Python traceback instead of hanging.
 */
final class PythonWorker private[ml] (val python: String, val module: String) {
  private val builder = new ProcessBuilder(Seq(python, "-m", module, "serve").asJava)
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
    try src.getLines().foreach { line =>
      stderr.synchronized {
        stderr.append(line).append('\n')
        if (stderr.length > PythonWorker.stderrKept) stderr.delete(0, stderr.length - PythonWorker.stderrKept)
      }
    } finally src.close()
  }, "sparkeras-python-stderr")
  errThread.setDaemon(true)
  errThread.start()

  private val in = new BufferedOutputStream(process.getOutputStream, 1 << 20)
  private val reader = new FrameReader(new DataInputStream(new BufferedInputStream(process.getInputStream, 1 << 20)), Int.MaxValue)
  private var command = ""
  @volatile private[ml] var idleSince = 0L

  def pid: Long = process.pid()

  def alive: Boolean = process.isAlive

  /** Starts a task: `args` is the command line after `python -m <module>`. */
  private[ml] def begin(args: Seq[String]): Unit = {
    stderr.synchronized(stderr.clear())
    command = args.headOption.getOrElse("")
    send(Envelope.newBuilder().setWorkerCommand(WorkerCommand.newBuilder().addAllArgs(args.asJava)).build())
  }

  def send(e: Envelope): Unit = try Frames.write(in, e) catch { case _: IOException => fail("stopped reading its input") }

  def receive(): Envelope = (try reader.read() catch { case _: IOException => None }).getOrElse(fail("closed its output"))

  /** The JSON a command answered with (the driver helpers' describe, inspect, save). */
  def resultJson(): String = receive().getWorkerOutput.getResultJson

  private def fail(what: String): Nothing = {
    process.waitFor(10, TimeUnit.SECONDS)
    errThread.join(2000)
    val tail = stderr.synchronized(stderr.toString).linesIterator.toSeq.takeRight(40).mkString("\n")
    destroy()
    val code = if (process.isAlive) "" else s" (exit code ${process.exitValue()})"
    throw new PythonWorkerException(s"the Python worker ($command) $what$code:\n$tail")
  }

  /** Ends the process: its standard input closes (it exits by itself), then it is killed. */
  def destroy(): Unit = {
    try in.close() catch { case _: IOException => () }
    if (process.isAlive && !process.waitFor(2, TimeUnit.SECONDS)) process.destroyForcibly()
  }
}

/**
 * The pool of Python processes of this JVM (a driver, an executor, or both in local mode), keyed
 * by interpreter and module: a task borrows an idle process (or starts one), and gives it back
 * when its command ended cleanly, so Python and TensorFlow start once per process rather than
 * once per task, partition or fit. A process whose task failed or was interrupted is ended,
 * never reused. Idle processes end after `spark.sparkeras.pythonWorkerIdleTimeout` seconds
 * (default 60) and when the JVM exits; at most `maxIdle` wait per key.
 */
object PythonWorker {
  private val stderrKept = 64 * 1024
  private val maxIdle = 8
  private val idle = mutable.Map.empty[(String, String), List[PythonWorker]]
  private val startedCount = new AtomicInteger()
  private val startedByModule = new java.util.concurrent.ConcurrentHashMap[String, AtomicInteger]()

  /** A worker on an executor: the training engine or inference (sparkeras.executor). */
  def executor[T](python: String, args: Seq[String])(use: PythonWorker => T): T = run(python, "sparkeras.executor", args)(use)

  /** A helper next to the driver: describe, inspect, save (sparkeras.driver.jvm_commands); returns its JSON. */
  def driver(python: String, args: Seq[String]): String =
    run(python, "sparkeras.driver.jvm_commands", args)(_.resultJson())

  /** Runs one command in a pooled process; the process goes back to the pool only if `use` returned. */
  def run[T](python: String, module: String, args: Seq[String])(use: PythonWorker => T): T = {
    val worker = borrow(python, module, args)
    val result = try use(worker) catch { case e: Throwable => worker.destroy(); throw e }
    release(worker)
    result
  }

  /** An idle live process, or a new one, with `args` sent as its command. */
  def borrow(python: String, module: String, args: Seq[String]): PythonWorker = {
    val worker = take(python, module).getOrElse(start(python, module))
    worker.begin(args)
    worker
  }

  /** Gives a worker whose command ended cleanly back to the pool. */
  def release(worker: PythonWorker): Unit = {
    val key = (worker.python, worker.module)
    val kept = worker.alive && idle.synchronized {
      val waiting = idle.getOrElse(key, Nil)
      if (waiting.size < maxIdle) { worker.idleSince = System.nanoTime(); idle(key) = worker :: waiting; true } else false
    }
    if (!kept) worker.destroy()
  }

  /** How many Python processes this JVM has started, for one module or ("") all. */
  def started(module: String): Int =
    if (module.isEmpty) startedCount.get() else Option(startedByModule.get(module)).map(_.get()).getOrElse(0)

  /** Ends every idle process now. */
  def shutdown(): Unit = idle.synchronized { val all = idle.values.flatten.toList; idle.clear(); all }.foreach(_.destroy())

  private def take(python: String, module: String): Option[PythonWorker] = {
    val (found, dead) = idle.synchronized {
      val (live, gone) = idle.getOrElse((python, module), Nil).partition(_.alive)
      idle((python, module)) = live.drop(1)
      (live.headOption, gone)
    }
    dead.foreach(_.destroy())
    found
  }

  private def start(python: String, module: String): PythonWorker = {
    reaper
    val worker = new PythonWorker(python, module)
    startedCount.incrementAndGet()
    startedByModule.computeIfAbsent(module, _ => new AtomicInteger()).incrementAndGet()
    worker
  }

  private def idleTimeoutNanos: Long = {
    val seconds = Option(org.apache.spark.SparkEnv.get).flatMap(env =>
      env.conf.getOption("spark.sparkeras.pythonWorkerIdleTimeout")).map(_.toDouble).getOrElse(60.0)
    (seconds * 1e9).toLong
  }

  /** Ends processes idle for longer than the timeout; started with the first process. */
  private lazy val reaper: Thread = {
    val thread = new Thread(() => {
      while (true) {
        Thread.sleep(1000)
        val limit = idleTimeoutNanos
        val now = System.nanoTime()
        val expired = idle.synchronized {
          val old = idle.values.flatten.filter(w => now - w.idleSince > limit).toSet
          idle.mapValuesInPlace((_, waiting) => waiting.filterNot(old.contains))
          old
        }
        expired.foreach(_.destroy())
      }
    }, "sparkeras-python-pool")
    thread.setDaemon(true)
    thread.start()
    Runtime.getRuntime.addShutdownHook(new Thread(() => shutdown(), "sparkeras-python-pool-shutdown"))
    thread
  }

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
