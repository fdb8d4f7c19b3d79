"""elephas's `BaseParameterClient.get_client("http" | "socket", port)` and its two clients.

In elephas these were how workers reached the driver: pickled weights over HTTP or a raw
socket, unauthenticated, so anyone who could reach the port could run code on the driver.
sparkeras has one protocol instead (protobuf frames over TCP, a fresh token per fit, the
server inside the driver JVM), spoken by its own workers. The classes stay so that code
which builds them keeps importing and constructing; fetching or pushing weights through
them is refused with the sparkeras way to do it, rather than opening elephas's hole again.
"""
import os
import socket

__all__ = ["BaseParameterClient", "HttpClient", "SocketClient", "determine_master"]

_INSTEAD = ("sparkeras's Python workers exchange weights with the parameter server themselves, over its "
            "authenticated protocol; there is no elephas-style {kind} endpoint to {action}. Read the trained weights "
            "with spark_model.master_network.get_weights() after fit, or follow training with a Keras callback "
            "(SparkModel.fit(..., callbacks=[...])).")


def determine_master(port=4000):
    """`host:port` of the driver as elephas computes it: SPARK_LOCAL_IP, else this host's address."""
    host = os.environ.get("SPARK_LOCAL_IP") or socket.gethostbyname(socket.gethostname())
    return f"{host}:{port}"


class BaseParameterClient:
    """A client of elephas's parameter server; `get_client(kind, port)` picks the class by kind."""
    client_type = "base"

    def __init__(self, port=4000):
        self.port = port
        self.master_url = determine_master(port)

    @classmethod
    def get_client(cls, client_type, port=4000):
        for subclass in cls.__subclasses__():
            if subclass.client_type == client_type:
                return subclass(port)
        raise ValueError(f"parameter server mode has to be 'http' or 'socket'; got {client_type!r}")

    def get_parameters(self):
        raise NotImplementedError(_INSTEAD.format(kind=self.client_type, action="fetch weights from"))

    def update_parameters(self, delta):
        raise NotImplementedError(_INSTEAD.format(kind=self.client_type, action="push updates to"))


class HttpClient(BaseParameterClient):
    client_type = "http"


class SocketClient(BaseParameterClient):
    client_type = "socket"
