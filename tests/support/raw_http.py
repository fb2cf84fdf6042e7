"""One HTTP/1.1 request over a plain socket, with the request target exactly as written.

httpx normalises paths (`/./x` becomes `/x`), so path tricks against the gate are sent here.
"""

from __future__ import annotations

import socket
from typing import NamedTuple


class RawResponse(NamedTuple):
    """Status, headers (names lower-cased; the last of a repeated name) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def request(
    port: int, method: str, target: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> RawResponse:
    """Send one request with `Connection: close` and read the whole answer (Content-Length or
    until close); a stream that opened would fail this within `timeout`."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parsed = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
        length = int(parsed.get("content-length", "-1"))
        if method != "HEAD" and length != 0:
            while length < 0 or len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        return RawResponse(int(status_line.split()[1]), parsed, body)
