"""The worker as the NATS micro service `inference`: `nats micro list|info|stats`
see every worker, and `$SRV.PING.inference` is what the hub's /readyz asks.

The frames subscription is the service's one endpoint, `frames` on `frames.>` in the
queue group `inference` (the same subscription the worker always had), so the
endpoint's request count is the frames this worker took from the queue group. Frames
of a replay arrive on subscriptions of their own (replay.py) and are not requests of
the endpoint; the stats' `data` carries the worker's own counts of every frame by
outcome, and its error count.

The worker's intake (intake.py) is in the queue group only with the credit of the room
it has: it has the endpoint's subscription made anew with a credit (the server ends it
after that many frames), while the service's ping, info and stats subscriptions stay. So a full worker
still answers the ping (the hub sees workers, busy ones), and the endpoint's request
count goes on across leaving and joining.

Three things nats-py 2.16's micro API does not offer are done here, in one place
(through the library's private attributes): the handler needs the message itself (its
reply subject tells a replayed frame from a live one, see replay.py); the endpoint's
subscription is handed to the intake, and made anew for it, to leave and join the
queue group (Service has no pause); and stopping must not unsubscribe the endpoint,
whose subscription the intake drains (answers the frames already received) where
Service.stop only unsubscribes.
"""

from __future__ import annotations

import contextlib
from typing import Awaitable, Callable, Mapping

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.micro.request import Request
from nats.micro.service import (Endpoint, EndpointConfig, EndpointStats, Service,
                                ServiceConfig)

from ..wire import contract

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


def _frames_endpoint(service: Service) -> Endpoint:
    (endpoint,) = service._endpoints  # see the module docstring
    return endpoint


def frames_subscription(service: Service) -> Subscription:
    """The frames endpoint's queue subscription, as start_service made it."""
    sub = _frames_endpoint(service)._subscription
    assert sub is not None, "the service is not started"
    return sub


async def resubscribe_frames(service: Service) -> Subscription:
    """Join the queue group again: a new subscription for the frames endpoint (its
    subject, queue group and handler). The previous one is the intake's, left
    draining."""
    endpoint = _frames_endpoint(service)
    endpoint._subscription = None
    await endpoint._start()
    assert endpoint._subscription is not None
    return endpoint._subscription


async def stop_service(service: Service) -> None:
    """Stop answering $SRV requests (after the intake drained the frames endpoint)."""
    # The endpoint's subscription is the intake's, drained: Service.stop must not
    # unsubscribe it again.
    service._endpoints.clear()
    with contextlib.suppress(nats.errors.Error, TimeoutError):
        await service.stop()
