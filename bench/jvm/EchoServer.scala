package sparkeras.bench

import java.io.{BufferedInputStream, BufferedOutputStream, DataInputStream, IOException}
import java.net.{InetAddress, InetSocketAddress, ServerSocket}

/**
 * Sends every length-prefixed frame straight back, unparsed: the floor that the
 * parameter server's push+pull is measured against in bench/.
 */
final class EchoServer(host: String) {
  private val socket = new ServerSocket()
  socket.bind(new InetSocketAddress(InetAddress.getByName(host), 0))
  val port: Int = socket.getLocalPort
  def getPort: Int = port

  private val thread = new Thread(() => {
    try {
      while (!socket.isClosed) {
        val s = socket.accept()
        s.setTcpNoDelay(true)
        val t = new Thread(() => {
          val in = new DataInputStream(new BufferedInputStream(s.getInputStream, 256 * 1024))
          val out = new BufferedOutputStream(s.getOutputStream, 256 * 1024)
          var buffer = new Array[Byte](1 << 20)
          try {
            while (true) {
              val n = in.readInt()
              if (buffer.length < n) buffer = new Array[Byte](n)
              in.readFully(buffer, 0, n)
              out.write(n >>> 24); out.write(n >>> 16); out.write(n >>> 8); out.write(n)
              out.write(buffer, 0, n)
              out.flush()
            }
          } catch { case _: IOException => () } finally s.close()
        }, "sparkeras-echo-conn")
        t.setDaemon(true)
        t.start()
      }
    } catch { case _: IOException => () }
  }, "sparkeras-echo")
  thread.setDaemon(true)
  thread.start()

  def stop(): Unit = socket.close()
}
