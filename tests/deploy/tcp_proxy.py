"""A TCP proxy a test can cut: PostgreSQL (or anything else) made unreachable for a while without
touching the server behind it, which other tests share."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CuttableProxy:
    """Forwards 127.0.0.1:`port` to `upstream`. While cut, every open connection is reset and every
    new one is accepted and reset at once: to a client the server is gone (connection refused or
    closed mid-query), and it answers again as soon as the cut ends. A silent cut is a network
    partition instead: connections are accepted and nothing ever comes back."""

    def __init__(self, upstream: tuple[str, int], port: int) -> None:
        self.upstream = upstream
        self.port = port
        self._cut = threading.Event()
        self._silent = threading.Event()
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-{port}", daemon=True)
        self.refused = 0  # connections reset while cut

    def start(self) -> CuttableProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        self.restore()
        self._reset_all()

    def cut(self, *, silent: bool = False) -> None:
        if silent:
            self._silent.set()
        else:
            self._reset_all()
        self._cut.set()

    def restore(self) -> None:
        if self._silent.is_set():
            self._reset_all()  # what they carried during the partition was swallowed: unusable
        self._cut.clear()
        self._silent.clear()
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    def __enter__(self) -> CuttableProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                if self._silent.is_set():
                    with self._lock:
                        self._held.append(client)
                else:
                    _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._silent.is_set():  # a partition swallows everything
                    target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with self._lock:
                    self._open.discard(sock)
                _reset(sock)

    def _reset_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _reset(sock)


@contextmanager
def database_through_proxy(connection, port: int) -> Iterator[CuttableProxy]:
    """Route a Django PostgreSQL connection (every thread's: the settings dict is shared) through a
    `CuttableProxy` on `port` until the block ends. Use with transactional tests only: the
    connection is closed on the way in and out."""
    direct = {key: connection.settings_dict[key] for key in ("HOST", "PORT")}
    proxy = CuttableProxy((direct["HOST"] or "127.0.0.1", int(direct["PORT"] or 5432)), port).start()
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
    try:
        yield proxy
    finally:
        proxy.restore()
        connection.close()
        connection.settings_dict.update(direct)
        proxy.stop()


def _reset(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a dead server's host answers."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
