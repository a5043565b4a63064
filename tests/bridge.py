"""A TCP port on 127.0.0.1 that forwards to a unix socket: the embedded PostgreSQL listens on a
socket only, and the SSH tunnel tests need it where a remote host's loopback can reach it."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path


class TcpToUnix:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = str(socket_path)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.socket_path)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.running = False
        self.server.close()
