"""A minimal Redis client (RESP2 over TCP) for the Redis benchmark.

The benchmark must not depend on redis-py (dramatiq-cpp does not need it)
and must not poll through either implementation's broker, so it watches the
server with this: one blocking socket, one command or one pipeline at a time.
"""

import socket


class RespError(Exception):
    """An error reply from the server."""


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Resp:
    def __init__(self, host="127.0.0.1", port=6379, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        try:
            self.rfile.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("connection closed by redis-server")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError("bad RESP line %r" % line[:100])

    def command(self, *args):
        self.sock.sendall(_encode(args))
        reply = self._read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def pipeline(self, commands):
        """Send several commands in one write; return their replies."""
        self.sock.sendall(b"".join(_encode(c) for c in commands))
        replies = [self._read() for _ in commands]
        for r in replies:
            if isinstance(r, RespError):
                raise r
        return replies

    def info(self, section):
        """INFO <section> as a dict of strings."""
        text = self.command("INFO", section).decode()
        out = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out
