package sparkeras

/** The version this jar was built as; the Python side refuses a jar that differs. */
object Version {
  lazy val current: String = {
    val props = new java.util.Properties()
    val in = getClass.getResourceAsStream("/sparkeras/version.properties")
    if (in != null) try props.load(in) finally in.close()
    props.getProperty("version", "unknown")
  }
}
