"""The wire layer: the generated contract (sparkeras_pb2), the tensor codec and the
framed TCP client. It imports nothing else of sparkeras but its errors."""
