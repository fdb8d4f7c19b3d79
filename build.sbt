// The JVM side of sparkeras: parameter server, update rules, aggregator and
// coordinator. Spark is provided by the cluster; protobuf-java is shaded in.
import sbtassembly.AssemblyPlugin.autoImport._

lazy val sparkVersion = "4.1.1"
lazy val protobufVersion = "4.33.2"   // protoc and protobuf-java move together

ThisBuild / scalaVersion := "2.13.17"
ThisBuild / organization := "io.github.sparkeras"
ThisBuild / version := IO.read(file("VERSION")).trim

// protoc itself comes from Maven Central, like everything else.
lazy val Protoc = config("protoc").hide

lazy val protocExecutable = taskKey[File]("The protoc binary for this machine")
lazy val generatePython = taskKey[Seq[File]]("Generate the Python wire module from proto/")
lazy val pythonJar = taskKey[File]("Build the shaded jar and place it in the Python package")

def protocClassifier: String = {
  val os = sys.props("os.name").toLowerCase match {
    case n if n.contains("mac") => "osx"
    case n if n.contains("win") => "windows"
    case _ => "linux"
  }
  val arch = sys.props("os.arch") match {
    case "amd64" | "x86_64" => "x86_64"
    case "aarch64" | "arm64" => "aarch_64"
    case other => other
  }
  s"$os-$arch"
}

def runProtoc(protoc: File, args: Seq[String], log: Logger): Unit = {
  val code = scala.sys.process.Process(protoc.getAbsolutePath +: args).!(log)
  if (code != 0) sys.error(s"protoc failed with exit code $code")
}

lazy val root = (project in file("."))
  .settings(
    name := "sparkeras-spark4",
    moduleName := "sparkeras-spark4",
    Compile / scalaSource := baseDirectory.value / "jvm" / "src" / "main" / "scala",
    Compile / resourceDirectory := baseDirectory.value / "jvm" / "src" / "main" / "resources",
    Test / scalaSource := baseDirectory.value / "jvm" / "src" / "test" / "scala",
    Test / resourceDirectory := baseDirectory.value / "jvm" / "src" / "test" / "resources",
    scalacOptions ++= Seq("-deprecation", "-feature", "-release:17"),
    javacOptions ++= Seq("--release", "17"),
    ivyConfigurations += Protoc,
    libraryDependencies ++= Seq(
      "org.apache.spark" %% "spark-core" % sparkVersion % Provided,
      "org.apache.spark" %% "spark-sql" % sparkVersion % Provided,
      "org.apache.spark" %% "spark-mllib" % "4.1.0" % Provided, // 4.1.1 is not on Maven Central; compile-time only
      "com.google.protobuf" % "protobuf-java" % protobufVersion, // shaded into the jar, dropped from the POM
      "org.scala-lang" % "scala-library" % scalaVersion.value % Provided,
      ("com.google.protobuf" % "protoc" % protobufVersion % Protoc)
        .artifacts(Artifact("protoc", "exe", "exe", protocClassifier)),
      "org.scalatest" %% "scalatest" % "3.2.19" % Test
    ),
    protocExecutable := {
      val files = update.value.select(configurationFilter(Protoc.name))
      val exe = files.find(_.getName.endsWith(".exe")).getOrElse(sys.error("protoc was not resolved"))
      exe.setExecutable(true)
      exe
    },
    Compile / sourceGenerators += Def.task {
      val out = (Compile / sourceManaged).value / "protobuf"
      val protos = ((baseDirectory.value / "proto") ** "*.proto").get
      val protoc = protocExecutable.value
      val log = streams.value.log
      val cached = FileFunction.cached(streams.value.cacheDirectory / "protoc-java", FilesInfo.hash) { in =>
        IO.delete(out); IO.createDirectory(out)
        runProtoc(protoc, Seq(s"-I${(baseDirectory.value / "proto").getAbsolutePath}", s"--java_out=${out.getAbsolutePath}") ++ in.map(_.getAbsolutePath), log)
        (out ** "*.java").get.toSet
      }
      cached(protos.toSet).toSeq
    }.taskValue,
    generatePython := {
      val out = baseDirectory.value / "python" / "sparkeras" / "wire"
      val protos = ((baseDirectory.value / "proto") ** "*.proto").get
      IO.createDirectory(out)
      runProtoc(protocExecutable.value, Seq(s"-I${(baseDirectory.value / "proto").getAbsolutePath}", s"--python_out=${out.getAbsolutePath}") ++ protos.map(_.getAbsolutePath), streams.value.log)
      // The package reads its version from here, also when it is imported from inside the jar.
      IO.write(baseDirectory.value / "python" / "sparkeras" / "VERSION", version.value + "\n")
      (out * "*_pb2.py").get
    },
    // The jar carries the sparkeras Python package at its root, so that
    // `spark-submit --packages` can `import sparkeras` with nothing installed.
    Compile / resourceGenerators += Def.task {
      generatePython.value
      val src = baseDirectory.value / "python"
      val out = (Compile / resourceManaged).value / "python-package"
      val files = ((src / "sparkeras") ** ("*.py" || "VERSION")).get.filterNot(_.getPath.contains("__pycache__"))
      files.map { f =>
        val target = (Compile / resourceManaged).value / IO.relativize(src, f).get
        IO.copyFile(f, target)
        target
      }
    }.taskValue,
    Compile / resourceGenerators += Def.task {
      val f = (Compile / resourceManaged).value / "sparkeras" / "version.properties"
      IO.write(f, s"version=${version.value}\n")
      Seq(f)
    }.taskValue,
    autoScalaLibrary := false, // Spark brings Scala; the POM lists it as provided
    // Publish the shaded jar as the main artifact, with a POM that lists only provided dependencies.
    Compile / packageBin / publishArtifact := false,
    assembly / artifact := (assembly / artifact).value.withClassifier(None),
    addArtifact(assembly / artifact, assembly),
    pomPostProcess := { node =>
      import scala.xml.transform.{RewriteRule, RuleTransformer}
      new RuleTransformer(new RewriteRule {
        override def transform(n: scala.xml.Node): Seq[scala.xml.Node] =
          if (n.label == "dependency" && (n \ "artifactId").text == "protobuf-java") Nil else n
      }).transform(node).head
    },
    publishMavenStyle := true,
    // Local repositories are rebuilt in place while developing one version.
    publishM2Configuration := publishM2Configuration.value.withOverwrite(true),
    publishLocalConfiguration := publishLocalConfiguration.value.withOverwrite(true),
    licenses := Seq("Apache-2.0" -> url("https://www.apache.org/licenses/LICENSE-2.0")),
    description := "Distributed training and inference of Keras models on Apache Spark",
    Test / fork := true,
    // Spark's own launcher opens these modules (Kryo, unsafe buffers); the forked test JVM must too.
    Test / javaOptions ++= Seq("-Xmx2g", "-XX:+IgnoreUnrecognizedVMOptions") ++
      Seq("java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util",
        "java.util.concurrent", "java.util.concurrent.atomic", "jdk.internal.ref", "sun.nio.ch", "sun.nio.cs",
        "sun.security.action", "sun.util.calendar").map(p => s"--add-opens=java.base/$p=ALL-UNNAMED"),
    Test / parallelExecution := false,
    assembly / assemblyOption ~= { _.withIncludeScala(false) },
    assembly / assemblyJarName := s"sparkeras-spark4_2.13-${version.value}.jar",
    assembly / assemblyShadeRules := Seq(
      ShadeRule.rename("com.google.protobuf.**" -> "sparkeras.shaded.protobuf.@1").inAll
    ),
    assembly / assemblyMergeStrategy := {
      case PathList("META-INF", "MANIFEST.MF") => MergeStrategy.discard
      case PathList("META-INF", xs @ _*) if xs.lastOption.exists(n => n.endsWith(".SF") || n.endsWith(".DSA") || n.endsWith(".RSA")) => MergeStrategy.discard
      case PathList("META-INF", "versions", _*) => MergeStrategy.discard
      case "module-info.class" => MergeStrategy.discard
      case PathList("google", "protobuf", _*) => MergeStrategy.discard
      case x => (assembly / assemblyMergeStrategy).value(x)
    },
    assembly / test := {},
    pythonJar := {
      val jar = assembly.value
      generatePython.value
      val dir = baseDirectory.value / "python" / "sparkeras" / "jars"
      IO.delete((dir * "*.jar").get)
      val target = dir / jar.getName
      IO.copyFile(jar, target)
      target
    }
  )

// Benchmark-only: a bare TCP echo server the parameter server's push+pull is measured
// against (bench/mnist_bench.py). Not part of the published jar.
lazy val benchEcho = (project in file("bench/jvm"))
  .settings(
    name := "sparkeras-bench-echo",
    Compile / scalaSource := baseDirectory.value,
    scalacOptions ++= Seq("-release:17"),
    libraryDependencies += "org.scala-lang" % "scala-library" % scalaVersion.value % Provided
  )
