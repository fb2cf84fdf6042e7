"""A TCP forwarder in front of a LiveServer whose connections the test can cut.

Chromium does not take loopback offline (`context.set_offline` leaves 127.0.0.1 alone), so
to break the page's event stream while the server, and its replay window, stays up, the page
talks to the server through this proxy. Three modes decide what a new connection gets:

- `forward`: bytes both ways, untouched;
- `hold`: accepted but parked until `release()`, as behind a router waiting for a backend;
- `bad_gateway`: one `502 Bad Gateway` answer, as from a router during a deploy.

`cut()` closes every open connection at once, which ends the stream mid-response;
`silence()` keeps them open but stops passing bytes, as a half-open connection after a
laptop sleeps or a NAT forgets it: nothing tells either end.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from enum import Enum
from types import TracebackType

BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n"
    b"connection: close\r\n\r\nbad gateway"
)


class Mode(Enum):
    """What the proxy does with a connection it accepts."""

    forward = "forward"
    hold = "hold"
    bad_gateway = "bad_gateway"


class CuttableProxy:
    """`url` forwards to `upstream_port` on 127.0.0.1; `start()`/`close()` or use as a context manager."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._mode = Mode.forward
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.bad_gateway_paths: list[str] = []
        self._answered = threading.Condition(self._lock)
        self._silenced: set[socket.socket] = set()

    # --- control -------------------------------------------------------------------------

    def start(self) -> CuttableProxy:
        """Accept connections in a background thread."""
        self._spawn(self._accept_loop)
        return self

    def set_mode(self, mode: Mode) -> None:
        """Decide what connections accepted from now on get."""
        with self._lock:
            self._mode = mode
            if mode is Mode.hold:
                self._released.clear()

    def cut(self) -> None:
        """Close every open connection (both sides): streams end without their last chunk."""
        with self._lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            _close(sock)

    def silence(self) -> None:
        """Stop forwarding on every open connection without closing any (new ones still flow)."""
        with self._lock:
            self._silenced |= self._open

    def release(self) -> None:
        """Forward from now on, including the connections parked in `hold` mode."""
        with self._lock:
            self._mode = Mode.forward
        self._released.set()

    def wait_for_bad_gateway(self, path: str, timeout: float) -> None:
        """Block until a request for `path` (query aside) got a 502; AssertionError after `timeout` s."""
        with self._answered:
            if not self._answered.wait_for(lambda: path in self.bad_gateway_paths, timeout):
                raise AssertionError(
                    f"no request for {path} was answered with 502 within {timeout}s "
                    f"(answered: {self.bad_gateway_paths})"
                )

    def close(self) -> None:
        """Stop accepting, close everything, join the threads."""
        self._stopping.set()
        self._released.set()
        self.cut()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> CuttableProxy:
        return self.start()

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    # --- workers -------------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            self._open.add(sock)
            return True

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if not self._track(client):
                _close(client)
                return
            with self._lock:
                mode = self._mode
            self._spawn(self._handle, client, mode)

    def _handle(self, client: socket.socket, mode: Mode) -> None:
        if mode is Mode.bad_gateway:
            self._answer_bad_gateway(client)
            return
        if mode is Mode.hold:
            self._released.wait()
            if self._stopping.is_set():
                _close(client)
                return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        if not self._track(upstream):
            _close(upstream)
            _close(client)
            return
        self._spawn(self._pump, upstream, client)
        self._pump(client, upstream)

    def _answer_bad_gateway(self, client: socket.socket) -> None:
        request = b""
        try:
            while b"\r\n\r\n" not in request:
                chunk = client.recv(65536)
                if not chunk:
                    return  # a pre-opened socket closed unused: nothing was answered
                request += chunk
            client.sendall(BAD_GATEWAY)
        except OSError:
            return
        finally:
            _close(client)
        # "GET /dashboard/stream?lastEventId=... HTTP/1.1" -> "/dashboard/stream"
        target = request.split(b"\r\n", 1)[0].split(b" ")[1:2]
        path = target[0].decode("latin-1").partition("?")[0] if target else ""
        with self._answered:
            self.bad_gateway_paths.append(path)
            self._answered.notify_all()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                with self._lock:
                    silenced = source in self._silenced or target in self._silenced
                if not silenced:
                    target.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(source)
            _close(target)
            with self._lock:
                self._open.discard(source)
                self._open.discard(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
