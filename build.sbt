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
      "com.google.protobuf" % "protobuf-java" % protobufVersion,
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
      (out * "*_pb2.py").get
    },
    Compile / resourceGenerators += Def.task {
      val f = (Compile / resourceManaged).value / "sparkeras" / "version.properties"
      IO.write(f, s"version=${version.value}\n")
      Seq(f)
    }.taskValue,
    Test / fork := true,
    Test / javaOptions ++= Seq("-Xmx2g"),
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
