"""Faults to put between Lockbox and what it depends on, started and stopped by the test.

`FreezableProxy` forwards TCP on loopback to a real server (PostgreSQL, Redis) and can
- freeze: keep every connection open and accept new ones, but forward nothing either way, as a
  hung server or a black-holed network path does (nothing is refused, nothing answers);
- cut: close every connection, as a killed server does;
- thaw: forward again.
"""

import contextlib
import select
import socket
import threading
import time


class FreezableProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self):
        self.frozen.set()

    def thaw(self):
        self.frozen.clear()

    def cut(self):
        with self.lock:
            held, self.sockets = self.sockets, []
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self):
        self.stopped.set()
        self.cut()
        self.listener.close()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        with self.lock:
            self.sockets.append(client)
        # A frozen path takes new connections (the kernel completes the handshake) and never
        # passes a byte on: the server is not even asked.
        while self.frozen.is_set() and not self.stopped.is_set():
            time.sleep(0.05)
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self.lock:
            self.sockets.append(server)
        pair = {client: server, server: client}
        try:
            while not self.stopped.is_set():
                if self.frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(pair), [], [], 0.05)
                for sock in ready:
                    if self.frozen.is_set():
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()
