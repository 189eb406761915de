"""The worker's NATS connection: connect (waiting for the server, with backoff), log its
ups and downs loudly (which server, which role, which credentials, what failed), count
permission violations, stop the worker when it closes unasked, drain it on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from typing import Any

import nats
from nats.aio.client import Client

from ..config import Config, redact_url
from ..ops.log import log_fields

log = logging.getLogger("inference_server.serving.worker")

# How long a drain may take (the frames already taken, then the connection): a frame
# waits at most one batch behind the others, far less than this; past it, a stuck
# model call must not keep a rolling update waiting for ever.
DRAIN_TIMEOUT_S = 30.0
# Between tries while the server is not there yet, or after losing it: the first
# retry comes quickly (a restarting server is back in a moment), then the wait
# doubles up to RECONNECT_MAX_WAIT_S, so a server that refuses our credentials is
# not hammered and a fixed one is noticed within that time.
RECONNECT_WAIT_S = 0.5
RECONNECT_MAX_WAIT_S = 15.0
# How long to wait for a cancelled task to end before cancelling it again: far more than
# a task needs to unwind, far less than anyone waiting for the worker to stop notices.
CANCEL_RETRY_S = 0.1
# The worker's replies land on subjects only the worker role may read
# (deploy/nats/permissions.conf, the hub's embedded server).
INBOX_PREFIX = "_INBOX_worker"
# The role the worker has on NATS, for logs.
ROLE = "worker"


def connect_options(cfg: Config) -> dict[str, Any]:
    """nats.connect() keyword arguments for the credentials and TLS of `cfg`."""
    opts: dict[str, Any] = {"inbox_prefix": INBOX_PREFIX}
    if cfg.nats_creds:
        opts["user_credentials"] = cfg.nats_creds
    elif cfg.nats_nkey:
        opts["nkeys_seed"] = cfg.nats_nkey
    elif cfg.nats_user:
        opts["user"], opts["password"] = cfg.nats_user, cfg.nats_password
    elif cfg.nats_token:
        opts["token"] = cfg.nats_token
    if cfg.uses_tls:
        # Verifies the server's certificate and name (the URL's host).
        tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.tls_ca)
        if cfg.tls_cert:
            tls.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        opts["tls"] = tls
    return opts


def failure_hint(exc: BaseException) -> str:
    """What a connection failure means, in words for the operator."""
    text = f"{type(exc).__name__} {exc}".lower()
    if "authorization" in text or "authentication" in text:
        return "the server refused the credentials (wrong, missing or not permitted)"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "TLS failed (CA, certificate or server name)"
    return "the server is not reachable"


class NatsConnection:
    """Connects with endless reconnects. `failed` is set when the connection closed
    without the worker asking (or never opened); `stop` is set then too."""

    def __init__(self, cfg: Config, stop: asyncio.Event) -> None:
        self._cfg = cfg
        self._stop = stop
        self._nc: Client | None = None
        self._servers = [u.strip() for u in cfg.nats_url.split(",") if u.strip()]
        self._retry = 0  # failed tries since the last success, for the backoff
        self.failed = False
        self.permission_violations = 0
        # NATS went away after the stop was asked (the hub with its embedded server
        # stopped first, say): said once, and the connection is closed, not retried.
        self.lost_while_stopping = False
        self._closing: asyncio.Task[None] | None = None

    async def connect(self) -> Client | None:
        """Connect, retrying until the server is there, unless asked to stop first."""
        try:
            opts = connect_options(self._cfg)
        except (OSError, ssl.SSLError) as exc:
            log_fields(log, logging.ERROR, "cannot use the NATS TLS files", error=str(exc),
                       role=ROLE, credentials=self._cfg.credentials_text())
            self.failed = True
            return None
        connecting = asyncio.ensure_future(nats.connect(
            servers=self._servers,
            name=f"inference-worker {self._cfg.name}",
            max_reconnect_attempts=-1,
            # The wait between tries is the backoff in _on_error.
            reconnect_time_wait=0,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed,
            drain_timeout=int(DRAIN_TIMEOUT_S),
            **opts,
        ))
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({connecting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if connecting.done():
            try:
                self._nc = connecting.result()
                self._retry = 0
                return self._nc
            except (nats.errors.Error, OSError, ValueError) as exc:
                log_fields(log, logging.ERROR, "cannot connect to NATS", error=str(exc),
                           servers=self._redacted_servers(), role=ROLE)
                self.failed = True
                return None
        await cancel_until_done(connecting)
        log.info("stopped before connecting to NATS")
        return None

    async def drain(self) -> None:
        """Unsubscribe everything, flush what was published, close. NATS gone meanwhile
        is said once (_on_disconnected), never as a traceback."""
        nc = self._nc
        if nc is None:
            return
        if self._closing is not None:
            await self._closing
        if nc.is_closed:
            return
        try:
            await nc.drain()
        except (nats.errors.Error, OSError) as exc:  # the server went away mid-drain
            self._give_up(str(exc))
            await self._closing

    def _redacted_servers(self) -> str:
        return ",".join(redact_url(u) for u in self._servers)

    async def _on_error(self, exc: Exception) -> None:
        text = str(exc) or type(exc).__name__
        if "permissions violation" in text.lower():
            self.permission_violations += 1
            log_fields(log, logging.ERROR, "NATS refused a publish or subscribe: not permitted "
                       "for this role", error=text, role=ROLE,
                       count=self.permission_violations)
            return
        nc = self._nc
        if nc is not None and nc.is_connected:
            log_fields(log, logging.WARNING, "nats error", error=text)
            return
        if self._stop.is_set() and nc is not None:
            self._give_up(text)
            return
        # A failed try to connect: say why at once, then wait before the next one
        # (nats-py awaits this callback between tries), or until the stop.
        self._retry += 1
        wait = min(RECONNECT_MAX_WAIT_S, RECONNECT_WAIT_S * 2 ** min(self._retry - 1, 10))
        wait = wait / 2 + random.uniform(0, wait / 2)
        log_fields(log, logging.ERROR, f"cannot connect to NATS: {failure_hint(exc)}; retrying",
                   error=text, servers=self._redacted_servers(), role=ROLE,
                   credentials=self._cfg.credentials_text(), retry_in_s=round(wait, 1))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), wait)
        if self._stop.is_set() and nc is not None:
            self._give_up(text)

    async def _on_disconnected(self) -> None:
        if not self._stop.is_set():
            log.warning("disconnected from NATS; reconnecting")
            return
        nc = self._nc
        if nc is not None and not nc.is_closed:  # closed: our own close, the drain's end
            self._give_up("disconnected")

    def _give_up(self, error: str) -> None:
        """NATS is gone while the worker stops: say so once and close the connection.
        Reconnecting would only delay the stop: whoever the frames still held belong to
        answers them itself (the hub, after its frame timeout)."""
        if self.lost_while_stopping:
            return
        self.lost_while_stopping = True
        log_fields(log, logging.WARNING, "lost NATS while stopping: not reconnecting; "
                   "the frames still held go unanswered", error=error)
        assert self._nc is not None
        # Not awaited here: nats-py calls back from the reconnect task that close() cancels.
        self._closing = asyncio.get_running_loop().create_task(close_quietly(self._nc))

    async def _on_reconnected(self) -> None:
        self._retry = 0
        log_fields(log, logging.INFO, "reconnected to NATS", server=server_address(self._nc))

    async def _on_closed(self) -> None:
        # nats-py 2.16 leaves a flush waiting for its PONG on a closed connection until
        # its timeout (10 s), and with it the drains of the subscriptions (intake.py) and
        # the stop. No PONG comes now: they fail at once (the client's private list).
        if self._nc is not None:
            for pong in self._nc._pongs:
                if not pong.done():
                    pong.set_exception(nats.errors.ConnectionClosedError())
                    pong.exception()  # retrieved: nobody waits for nats-py's own PINGs
        if not self._stop.is_set():
            log.error("NATS connection closed")
            self.failed = True
            self._stop.set()


async def close_quietly(nc: Client) -> None:
    """Close `nc`; a socket that is already gone is not worth a word more."""
    with contextlib.suppress(nats.errors.Error, OSError):
        await nc.close()


def server_address(nc: Client | None) -> str | None:
    """host:port of the server `nc` is connected to, for logs."""
    url = nc.connected_url if nc is not None else None
    return f"{url.hostname}:{url.port}" if url is not None else None


async def cancel_until_done(task: asyncio.Future[object]) -> None:
    """Cancel `task` and wait for it to end, cancelling again while it goes on.

    nats.connect retries inside asyncio.wait_for, and Python 3.11's wait_for swallows a
    cancellation that arrives in the same loop iteration as the inner call's failure
    (here: "connection refused"), turning it into that error, which the retry loop
    catches. One cancel() then leaves the worker waiting for NATS for ever after
    SIGTERM (test_sigterm_while_waiting_for_nats_exits_0 hung on a busy machine)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY_S)
    if task.cancelled() or task.exception() is not None:  # (a failure is moot now)
        return
    result = task.result()
    if isinstance(result, Client):  # it connected just as it was cancelled
        await result.close()
