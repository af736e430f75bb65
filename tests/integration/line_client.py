"""A client on a plain socket that reads CRLF lines, so tests see the exact octets a server
sends. The SMTP and POP3 test clients (smtp_helpers.Raw, test_pop3.Raw) build on it."""

import socket


class LineClient:
    """`source` binds the client to another loopback address (127.0.0.x), so that limits
    counted per address (connections, login failures) start from zero for that test."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        """One line without its CRLF; EOFError when the stream ends first."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; unread %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def closed_by_peer(self, timeout=15):
        """True when the server closes the connection (EOF or reset) within the deadline;
        whatever it sent before stays readable in self.buf."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
