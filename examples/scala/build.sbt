// A Scala Spark application that trains and applies a Keras model with sparkeras.
// Build it with ../../build/sbt package; run it with spark-submit --packages (see README.md).
ThisBuild / scalaVersion := "2.13.17"

lazy val sparkeras = IO.read(file("../../VERSION")).trim

lazy val root = (project in file("."))
  .settings(
    name := "sparkeras-scala-example",
    libraryDependencies ++= Seq(
      "io.github.sparkeras" %% "sparkeras-spark4" % sparkeras % Provided, // spark-submit --packages brings it
      "org.apache.spark" %% "spark-sql" % "4.1.1" % Provided,
      // spark-mllib 4.1.1 is not on Maven Central; 4.1.0's API is the same, and it is only
      // compiled against (Provided): the cluster's own Spark runs the application
      "org.apache.spark" %% "spark-mllib" % "4.1.0" % Provided
    )
  )
