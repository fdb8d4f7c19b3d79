package sparkeras

import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Path}

import org.scalatest.funsuite.AnyFunSuite
import sparkeras.ml.{PythonWorker, PythonWorkerException}

/**
 * The JVM's pool of Python processes, with a small module speaking the real pipe protocol
 * (sparkeras.wire.pipe_commands): a process is reused while its commands succeed, a failing
 * one is ended and reported with its traceback, and stray prints never reach the frames.
 */
class PythonWorkerPoolSpec extends AnyFunSuite {
  private val python = sys.env.getOrElse("PYSPARK_PYTHON", new java.io.File(".venv/bin/python").getAbsolutePath)

  /** An interpreter wrapper that puts a test module on the path (the pool starts `<python> -m <module> serve`). */
  private lazy val (interpreter, module) = {
    val dir: Path = Files.createTempDirectory("sparkeras-pool-test")
    Files.write(dir.resolve("echo_worker.py"),
      """import json, os, sys
        |from sparkeras.wire import sparkeras_pb2 as wire
        |from sparkeras.wire.connection import write_frame
        |from sparkeras.wire.pipe_commands import serve
        |
        |def run(args, stdin, stdout):
        |    print("a stray print goes to standard error")
        |    if args[0] == "fail":
        |        raise ValueError("asked to fail")
        |    env = wire.Envelope()
        |    env.worker_output.result_json = json.dumps({"pid": os.getpid(), "args": args})
        |    write_frame(stdout, env)
        |
        |if __name__ == "__main__":
        |    serve(run)
        |""".stripMargin.getBytes(UTF_8))
    val wrapper = dir.resolve("python")
    Files.write(wrapper, s"#!/bin/sh\nPYTHONPATH=$dir$${PYTHONPATH:+:$$PYTHONPATH} exec $python \"$$@\"\n".getBytes(UTF_8))
    wrapper.toFile.setExecutable(true)
    (wrapper.toString, "echo_worker")
  }

  private def pidOf(json: String): Long = """"pid": (\d+)""".r.findFirstMatchIn(json).get.group(1).toLong

  test("a process is reused by the next command, and several run at once") {
    val before = PythonWorker.started(module)
    val first = PythonWorker.run(interpreter, module, Seq("hello", "1"))(_.resultJson())
    val second = PythonWorker.run(interpreter, module, Seq("hello", "2"))(_.resultJson())
    assert(first.contains("\"hello\", \"1\"") && second.contains("\"hello\", \"2\""))
    assert(pidOf(first) == pidOf(second))
    // two at once need two processes; both go back to the pool
    val outer = PythonWorker.run(interpreter, module, Seq("outer")) { a =>
      val inner = PythonWorker.run(interpreter, module, Seq("inner"))(_.resultJson())
      (a.resultJson(), inner)
    }
    assert(pidOf(outer._1) != pidOf(outer._2))
    assert(PythonWorker.started(module) - before == 2)
  }

  test("a failing command ends its process and reports the traceback; the next command gets a new process") {
    val alive = pidOf(PythonWorker.run(interpreter, module, Seq("hello"))(_.resultJson()))
    val error = intercept[PythonWorkerException](PythonWorker.run(interpreter, module, Seq("fail"))(_.resultJson()))
    assert(error.getMessage.contains("ValueError: asked to fail"), error.getMessage)
    assert(error.getMessage.contains("(fail)"))
    val next = pidOf(PythonWorker.run(interpreter, module, Seq("hello"))(_.resultJson()))
    assert(next != alive)
  }

  test("an exception in the JVM while a process is borrowed ends that process") {
    var pid = 0L
    intercept[IllegalStateException](PythonWorker.run(interpreter, module, Seq("hello")) { w =>
      pid = w.pid
      throw new IllegalStateException("the task was interrupted")
    })
    val next = pidOf(PythonWorker.run(interpreter, module, Seq("hello"))(_.resultJson()))
    assert(next != pid)
    assert(!ProcessHandle.of(pid).map[Boolean](_.isAlive).orElse(false))
  }

  test("a missing interpreter is a clear error") {
    val error = intercept[PythonWorkerException](PythonWorker.run("/no/such/python", module, Seq("hello"))(_.resultJson()))
    assert(error.getMessage.contains("spark.pyspark.python"))
  }
}
