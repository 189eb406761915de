"""The worker's NATS connection: connect (waiting for the server), log its ups and
downs, stop the worker when it closes unasked, drain it on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from nats.aio.client import Client

from .config import Config
from .log import log_fields

log = logging.getLogger("inference_server.worker")

# How long a drain may take (the frames already taken, then the connection): a frame
# waits at most one batch behind the others, far less than this; past it, a stuck
# model call must not keep a rolling update waiting for ever.
DRAIN_TIMEOUT_S = 30.0
# Between tries while the server is not there yet, or after losing it.
RECONNECT_WAIT_S = 1


class NatsConnection:
    """Connects with endless reconnects. `failed` is set when the connection closed
    without the worker asking (or never opened); `stop` is set then too."""

    def __init__(self, cfg: Config, stop: asyncio.Event) -> None:
        self._cfg = cfg
        self._stop = stop
        self._nc: Client | None = None
        self.failed = False

    async def connect(self) -> Client | None:
        """Connect, retrying until the server is there, unless asked to stop first."""
        servers = [u.strip() for u in self._cfg.nats_url.split(",") if u.strip()]
        connecting = asyncio.ensure_future(nats.connect(
            servers=servers,
            name=f"inference-worker {self._cfg.name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_S,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed,
            drain_timeout=int(DRAIN_TIMEOUT_S),
        ))
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({connecting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if connecting.done():
            try:
                self._nc = connecting.result()
                return self._nc
            except (nats.errors.Error, OSError, ValueError) as exc:
                log_fields(log, logging.ERROR, "cannot connect to NATS", error=str(exc))
                self.failed = True
                return None
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        log.info("stopped before connecting to NATS")
        return None

    async def drain(self) -> None:
        """Unsubscribe everything, flush what was published, close."""
        nc = self._nc
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()
        except (nats.errors.Error, OSError) as exc:
            log_fields(log, logging.WARNING, "drain failed", error=str(exc))
            await nc.close()

    async def _on_error(self, exc: Exception) -> None:
        log_fields(log, logging.WARNING, "nats error", error=str(exc) or type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if not self._stop.is_set():
            log.warning("disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        log_fields(log, logging.INFO, "reconnected to NATS", server=server_address(self._nc))

    async def _on_closed(self) -> None:
        if not self._stop.is_set():
            log.error("NATS connection closed")
            self.failed = True
            self._stop.set()


def server_address(nc: Client | None) -> str | None:
    """host:port of the server `nc` is connected to, for logs."""
    url = nc.connected_url if nc is not None else None
    return f"{url.hostname}:{url.port}" if url is not None else None
