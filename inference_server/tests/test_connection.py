"""The NATS connection at start-up: a stop asked while it waits for the server ends the
wait, however the stop and a failed connection attempt interleave."""

from __future__ import annotations

import asyncio
import random

from inference_server.config import Config
from inference_server.serving.connection import NatsConnection

from .procs import free_port

# Stops spread over the first milliseconds of connecting, where an attempt fails with
# "connection refused" in the same loop iteration as the cancellation now and then
# (Python 3.11's asyncio.wait_for then swallows the cancellation).
ROUNDS = 150
STOP_WITHIN_S = 10.0  # generous: unwinding takes milliseconds


def test_stop_while_waiting_for_the_server_always_ends_the_wait() -> None:
    async def scenario() -> list[int]:
        rng = random.Random(9)
        hung = []
        for i in range(ROUNDS):
            stop = asyncio.Event()
            cfg = Config(nats_url=f"nats://127.0.0.1:{free_port()}", name="conn-test")
            connection = NatsConnection(cfg, stop)
            connecting = asyncio.ensure_future(connection.connect())
            await asyncio.sleep(rng.uniform(0, 0.004))
            stop.set()
            done, _ = await asyncio.wait({connecting}, timeout=STOP_WITHIN_S)
            if not done:
                hung.append(i)
                connecting.cancel()
                break
            assert connecting.result() is None
            assert not connection.failed
        return hung

    hung = asyncio.run(scenario())
    assert hung == [], f"connect() kept retrying after stop in rounds {hung}"
