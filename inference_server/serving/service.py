"""The worker as the NATS micro service `inference`: `nats micro list|info|stats`
see every worker, `$SRV.PING.inference` is what the hub's /readyz asks, and
`$SRV.INFO.inference` tells the hub which model-versions each worker serves.

Each model-version served is one endpoint of the service: `{model}-{version}` on
`infer.{model}.{version}.>` in the queue group `inference` (contract endpoint_name,
endpoint_subject), with the model's endpoint metadata; the service's own metadata says
which worker it is and which model-versions it serves or failed to load. So the
endpoint's request count is the frames this worker took from that model-version's
queue group. Frames of a replay arrive on subscriptions of their own (replay.py) and
are not requests of an endpoint; each endpoint's stats `data` carries the worker's own
counts of that model-version's frames by outcome, and its error count.

The worker's intake (intake.py) is in an endpoint's queue group only with the credit
of the room it has for that model-version: it has the endpoint's subscription made
anew with a credit (the server ends it after that many frames), while the service's
ping, info and stats subscriptions stay. So a full worker still answers the ping (the
hub sees workers, busy ones), and the endpoint's request count goes on across leaving
and joining.

What nats-py 2.16's micro API does not offer is done here, in one place (through the
library's private attributes): the handler needs the message itself (its reply
subject tells a replayed frame from a live one, see replay.py); an endpoint's
subscription is handed to the intake, and made anew for it, to leave and join the
queue group (Service has no pause); an endpoint is removed while the service runs (a
model-version no longer served; Service only adds them) without unsubscribing it,
since the intake drains its subscription (answers the frames already received) where
Endpoint._stop only unsubscribes; the metadata changes as models come and go; and
stopping must not unsubscribe the endpoints either.
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
SERVICE_DESCRIPTION = ("image classification worker: answers "
                       f"{contract.INFER_ROOT}.{{model}}.{{version}}.> requests over NATS")

FrameHandler = Callable[[Msg], Awaitable[None]]
# An endpoint's stats data, by endpoint name.
StatsData = Callable[[str], Mapping[str, int]]


def new_service(nc: Client, *, queue_group: str, stats: StatsData,
                metadata: Mapping[str, str]) -> Service:
    """The service, not answering yet: add the endpoints, then start_service."""

    def stats_handler(endpoint: EndpointStats) -> dict[str, int]:
        data = dict(stats(endpoint.name))
        # The endpoint's handler only hands each frame to a task, so the library never
        # sees a frame fail; the errors it reports are the worker's own count.
        endpoint.num_errors = data.get("errors", 0)
        return data

    return Service(nc, ServiceConfig(
        name=contract.MICRO_SERVICE, version=SERVICE_VERSION,
        description=SERVICE_DESCRIPTION, metadata=dict(metadata), queue_group=queue_group,
        stats_handler=stats_handler))


async def start_service(service: Service) -> None:
    """Answer $SRV requests. Only once the first endpoints are subscribed: a hub that
    hears the ping can send a frame at once."""
    await service.start()


async def add_endpoint(service: Service, *, name: str, subject: str, queue_group: str,
                       on_frame: FrameHandler, metadata: Mapping[str, str]) -> Endpoint:
    """Subscribe one endpoint (one model-version) and list it in the service's info."""

    async def handle(request: Request) -> None:
        await on_frame(request._msg)  # see the module docstring

    await service.add_endpoint(EndpointConfig(
        name=name, subject=subject, queue_group=queue_group, handler=handle,
        metadata=dict(metadata)))
    endpoint = service._endpoints[-1]  # see the module docstring
    assert endpoint._name == name
    return endpoint


def remove_endpoint(service: Service, endpoint: Endpoint) -> None:
    """Take the endpoint out of the service's info and stats; its subscriptions are the
    intake's, which drains them."""
    with contextlib.suppress(ValueError):
        service._endpoints.remove(endpoint)  # see the module docstring


def set_metadata(service: Service, metadata: Mapping[str, str]) -> None:
    """The service metadata its next ping, info and stats answer with."""
    service._metadata = dict(metadata)  # see the module docstring


def endpoint_subscription(endpoint: Endpoint) -> Subscription:
    """The endpoint's queue subscription, as add_endpoint made it."""
    sub = endpoint._subscription
    assert sub is not None, "the endpoint is not subscribed"
    return sub


async def resubscribe(endpoint: Endpoint) -> Subscription:
    """Join the endpoint's queue group again: a new subscription (its subject, queue
    group and handler). The previous one is the intake's, left draining."""
    endpoint._subscription = None
    await endpoint._start()
    assert endpoint._subscription is not None
    return endpoint._subscription


async def stop_service(service: Service) -> None:
    """Stop answering $SRV requests (after the intakes drained the endpoints)."""
    # The endpoints' subscriptions are the intakes', drained: Service.stop must not
    # unsubscribe them again.
    service._endpoints.clear()
    with contextlib.suppress(nats.errors.Error, TimeoutError):
        await service.stop()
