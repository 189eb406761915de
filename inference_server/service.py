"""The worker as the NATS micro service `inference`: `nats micro list|info|stats`
see every worker, and `$SRV.PING.inference` is what the hub's /readyz asks.

The frames subscription is the service's one endpoint, `frames` on `frames.>` in the
queue group `inference` (the same subscription the worker always had), so the
endpoint's request count is the frames this worker took from the queue group. Frames
of a replay arrive on subscriptions of their own (replay.py) and are not requests of
the endpoint; the stats' `data` carries the worker's own counts of every frame by
outcome, and its error count.

Two things nats-py 2.16's micro API does not offer are done here, in one place: the
handler needs the message itself (its reply subject tells a replayed frame from a live
one, see replay.py), and stopping must drain the endpoint's subscription (answer the
frames already received) where Service.stop only unsubscribes.
"""

from __future__ import annotations

import contextlib
from typing import Awaitable, Callable, Mapping

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, EndpointStats, Service, ServiceConfig

from . import contract

SERVICE_VERSION = "1.0.0"
FRAMES_ENDPOINT = "frames"

FrameHandler = Callable[[Msg], Awaitable[None]]
StatsData = Callable[[], Mapping[str, int]]


async def start_service(nc: Client, *, frames_subject: str, queue_group: str,
                        on_frame: FrameHandler, stats: StatsData,
                        metadata: Mapping[str, str]) -> Service:
    def stats_handler(endpoint: EndpointStats) -> dict[str, int]:
        data = dict(stats())
        # The endpoint's handler only hands each frame to a task, so the library never
        # sees a frame fail; the errors it reports are the worker's own count.
        endpoint.num_errors = data.get("errors", 0)
        return data

    async def handle(request: Request) -> None:
        await on_frame(request._msg)  # see the module docstring

    service = Service(nc, ServiceConfig(
        name=contract.MICRO_SERVICE, version=SERVICE_VERSION,
        description="MobileNetV2 image classification of camera frames",
        metadata=dict(metadata), queue_group=queue_group, stats_handler=stats_handler))
    await service.add_endpoint(EndpointConfig(
        name=FRAMES_ENDPOINT, subject=frames_subject, queue_group=queue_group,
        handler=handle))
    # Only now answer the ping: a hub whose /readyz hears it can send a frame at once.
    await service.start()
    return service


async def drain_endpoints(service: Service) -> None:
    """Stop taking requests, and run the handler for each one already received."""
    for endpoint in service._endpoints:  # see the module docstring
        sub = endpoint._subscription
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await sub.drain()
    # Drained subscriptions are closed: Service.stop must not unsubscribe them again.
    service._endpoints.clear()


async def stop_service(service: Service) -> None:
    """Stop answering $SRV requests (after drain_endpoints)."""
    with contextlib.suppress(nats.errors.Error, TimeoutError):
        await service.stop()
