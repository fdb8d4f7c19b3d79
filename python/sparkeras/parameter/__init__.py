"""elephas's parameter-server clients, at elephas's path (`elephas.parameter`), for code that
constructs them. sparkeras's workers reach its parameter server themselves; see `client`."""
from sparkeras.parameter.client import BaseParameterClient, HttpClient, SocketClient

__all__ = ["BaseParameterClient", "HttpClient", "SocketClient"]
