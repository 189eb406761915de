"""What the worker's /healthz and /readyz answer (served beside /metrics, metrics.py),
for a process supervisor such as Kubernetes' liveness and readiness probes.

/healthz: the process is alive and its event loop runs callbacks (a loop stuck in a
blocking call answers no frame, and only a restart helps).
/readyz: the model is loaded, the worker is connected to NATS and subscribed to the
frames in the queue group, and it is not stopping; otherwise 503 with the reason.

The HTTP server answers from its own thread; the worker sets the state from the event
loop. Each field is one reference written whole, so a probe reads a consistent value
of each without a lock.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

# How long /healthz waits for the event loop to run a callback. A healthy loop does
# it within milliseconds (model calls and decoding run in threads); a loop busy for
# seconds is stuck. Well under a probe's timeout, so the probe sees the 503 and its
# reason rather than a timeout.
LOOP_RESPONSE_TIMEOUT_S = 2.0


class Connected(Protocol):
    @property
    def is_connected(self) -> bool: ...


class Health:
    """The worker's liveness and readiness, as the probes see them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.model_loaded = False
        self.nats: Connected | None = None  # the client, once it first connected
        self.subscribed = False  # frames endpoint and replays subscribed
        self.stopping = False

    def not_alive_reason(self) -> str | None:
        """None when the event loop runs a callback within LOOP_RESPONSE_TIMEOUT_S."""
        ran = threading.Event()
        try:
            self._loop.call_soon_threadsafe(ran.set)
        except RuntimeError:  # the loop is closed
            return "event loop closed"
        if not ran.wait(LOOP_RESPONSE_TIMEOUT_S):
            return f"event loop did not respond within {LOOP_RESPONSE_TIMEOUT_S:g} s"
        return None

    def not_ready_reason(self) -> str | None:
        """None when a frame sent now would be taken; else why not, in words."""
        if self.stopping:
            return "stopping: draining the frames taken"
        if not self.model_loaded:
            return "model loading"
        nats = self.nats
        if nats is None or not nats.is_connected:
            return "not connected to NATS"
        if not self.subscribed:
            return "not subscribed to the frames"
        return None
