"""The floor under any broadcaster here: one loopback TCP write per client per event.

`python -m bench.floor [--clients N] [--rounds R] [--bytes B]` starts a bare uvloop server
(no HTTP, no framework) and a reading client in another process, then writes the same
B-byte chunk to every connection R times, 10 ms apart, and prints the server's CPU per write,
split into user and kernel time, from /proc. Whatever a server does in its own code, it pays
at least this per delivery when each delivery is its own write: on loopback the sender's
write also runs the receiver's TCP receive path and wakes the reader.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
from typing import cast

import uvloop

from bench.procstat import cpu_split, raise_nofile_limit


def _reader(port: int, clients: int, ready: multiprocessing.synchronize.Event) -> None:
    """Connect `clients` sockets and read (and drop) everything until killed."""

    class Drop(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(clients):
            await loop.create_connection(Drop, "127.0.0.1", port)
        ready.set()
        await asyncio.Event().wait()

    raise_nofile_limit()
    uvloop.run(run())


async def measure(clients: int, rounds: int, size: int) -> tuple[float, float]:
    """(user, kernel) µs of server CPU per write."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []

    class Keep(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(cast(asyncio.Transport, transport))  # uvloop's is not a subclass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await loop.create_server(Keep, "127.0.0.1", port, backlog=4096)
    ready = multiprocessing.Event()
    reader = multiprocessing.Process(target=_reader, args=(port, clients, ready), daemon=True)
    reader.start()
    try:
        await loop.run_in_executor(None, ready.wait, 60)
        while len(transports) < clients:
            await asyncio.sleep(0.01)
        body = b"x" * size
        chunk = b"%x\r\n%b\r\n" % (len(body), body)
        user, kernel = cpu_split(os.getpid())
        for _ in range(rounds):
            for transport in transports:
                transport.write(chunk)
            await asyncio.sleep(0.01)
        user_after, kernel_after = cpu_split(os.getpid())
    finally:
        reader.kill()
        server.close()
    writes = rounds * clients
    return (user_after - user) / writes * 1e6, (kernel_after - kernel) / writes * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--bytes", type=int, default=600, help="about one card frame")
    args = parser.parse_args()
    raise_nofile_limit()
    user, kernel = uvloop.run(measure(args.clients, args.rounds, args.bytes))
    print(
        f"bare uvloop transport.write, {args.clients} loopback clients, {args.bytes} B:"
        f" {user + kernel:.2f} µs per write ({user:.2f} user, {kernel:.2f} kernel)"
    )


if __name__ == "__main__":
    main()
