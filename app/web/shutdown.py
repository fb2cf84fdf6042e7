"""End open streams as soon as SIGTERM arrives.

uvicorn waits for open connections before it runs the lifespan shutdown, so an SSE stream
would hold a deploy until `--timeout-graceful-shutdown` kills it. We chain our own handler in
front of uvicorn's: streams end first, uvicorn then drains what is left (ingests in flight).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def on_termination(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` on SIGTERM/SIGINT, then the handler that was there before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; an embedding server handles them
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handle(sig: int, frame: FrameType | None) -> None:
        callback()
        before = previous[signal.Signals(sig)]
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
