"""Replays: JetStream push consumers whose target (deliver subject) is
infer.<model>.<version>.replay.<name>: the model-version that classifies the replay.

A push consumer delivers only to subscriptions on its literal deliver subject (the
worker's endpoint subscriptions on infer.<model>.<version>.> match it too, but they
come and go with the intake's credit), and its messages keep their recorded subject
(frames.live.<session>). So the worker watches for such consumers — the JetStream
consumer advisories, plus a scan of existing consumers at start and whenever it starts
serving another model-version — subscribes to each deliver subject of a model-version
it serves (in the consumer's deliver group, e.g. `inference`, so one worker takes each
frame) and answers on results.<kind>.<id> of the deliver subject. A replay of a model
the worker does not serve is left to the workers that do: a frame is never answered by
another model.

A replayed frame may also arrive on the endpoint's queue subscription of its
model-version, still with its recorded subject. Its reply subject
($JS.ACK.<stream>.<consumer>.…) names the consumer, and `target_for` maps that back to
the deliver subject.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ..wire import contract
from ..ops.log import log_fields

log = logging.getLogger("inference_server.serving.replay")

API_TIMEOUT_S = 5.0

# Makes the message callback for one deliver subject.
HandlerFactory = Callable[[str], Callable[[Msg], Awaitable[None]]]
# Whether the worker serves the model-version of a replay target now.
Serves = Callable[[str], bool]


def is_replay_target(subject: str | None) -> bool:
    """infer.<model>.<version>.<kind>.<id>, literal (no wildcards)."""
    if not subject or contract.split_infer_subject(subject) is None:
        return False
    tokens = subject.split(".")
    return len(tokens) >= 5 and all(t and t not in ("*", ">") for t in tokens)


@dataclass
class _Target:
    sub: Subscription
    consumers: set[tuple[str, str]] = field(default_factory=set)


class ReplayWatcher:
    def __init__(self, nc: Client, handler_for: HandlerFactory,
                 serves: Serves = lambda subject: True) -> None:
        self._nc = nc
        self._handler_for = handler_for
        self._serves = serves
        self._targets: dict[str, _Target] = {}  # deliver subject -> subscription
        # (stream, consumer) -> its replay target, or None when it is not one
        self._by_consumer: dict[tuple[str, str], str | None] = {}
        self._advisory_subs: list[Subscription] = []
        self._lock = asyncio.Lock()

    @property
    def subjects(self) -> list[str]:
        return sorted(self._targets)

    async def start(self) -> None:
        self._advisory_subs = [
            await self._nc.subscribe(contract.CONSUMER_CREATED_ADVISORY, cb=self._on_created),
            await self._nc.subscribe(contract.CONSUMER_DELETED_ADVISORY, cb=self._on_deleted),
        ]
        await self._scan()

    async def refresh(self) -> None:
        """Look again at every consumer: the worker serves another model-version now."""
        await self._scan()

    async def forget(self, gone: Serves) -> None:
        """Stop taking the replays of a model-version no longer served (`gone` tells
        its targets); those already received are still handled."""
        async with self._lock:
            subjects = [s for s in self._targets if gone(s)]
            targets = [self._targets.pop(s) for s in subjects]
        for subject, target in zip(subjects, targets):
            for key in target.consumers:
                self._by_consumer.pop(key, None)
            await _quietly(target.sub.drain())
            log_fields(log, logging.INFO, "replay unsubscribed", subject=subject)

    async def _scan(self) -> None:
        """Consumers made before this worker started (or before it served their model)."""
        js = self._nc.jetstream(timeout=API_TIMEOUT_S)
        try:
            streams = await js.streams_info()
            for stream in streams:
                for info in await js.consumers_info(stream.config.name):
                    await self._consider(stream.config.name, info.name, info.config)
        except (nats.errors.Error, asyncio.TimeoutError) as exc:
            # No JetStream on this server (or no permission): live frames still work.
            log_fields(log, logging.DEBUG, "no JetStream consumers scanned", reason=str(exc))

    async def target_for(self, ack_subject: str) -> str | None:
        """The replay target of the consumer that delivered a message, from the
        message's $JS.ACK reply subject; None when it is not a replay."""
        key = parse_ack_subject(ack_subject)
        if key is None:
            return None
        if key not in self._by_consumer:
            await self._lookup(*key)
            self._by_consumer.setdefault(key, None)
        return self._by_consumer[key]

    async def _on_created(self, msg: Msg) -> None:
        stream, consumer = _names(msg)
        if stream and consumer:
            await self._lookup(stream, consumer)

    async def _lookup(self, stream: str, consumer: str) -> None:
        try:
            info = await self._nc.jetstream(timeout=API_TIMEOUT_S).consumer_info(stream,
                                                                                 consumer)
        except (nats.errors.Error, asyncio.TimeoutError) as exc:
            log_fields(log, logging.WARNING, "cannot read new consumer",
                       stream=stream, consumer=consumer, error=str(exc))
            return
        await self._consider(stream, consumer, info.config)

    async def _consider(self, stream: str, consumer: str, config: object) -> None:
        subject = getattr(config, "deliver_subject", None)
        if not is_replay_target(subject):
            self._by_consumer[(stream, consumer)] = None
            return
        assert subject is not None
        if not self._serves(subject):
            return  # another model's: looked at again on refresh()
        self._by_consumer[(stream, consumer)] = subject
        group = getattr(config, "deliver_group", None) or ""
        async with self._lock:
            target = self._targets.get(subject)
            if target is None:
                sub = await self._nc.subscribe(subject, queue=group,
                                               cb=self._handler_for(subject))
                target = self._targets[subject] = _Target(sub)
                log_fields(log, logging.INFO, "replay subscribed", stream=stream,
                           consumer=consumer, subject=subject, queue=group or None)
            target.consumers.add((stream, consumer))

    async def _on_deleted(self, msg: Msg) -> None:
        key = _names(msg)
        self._by_consumer.pop(key, None)
        async with self._lock:
            for subject, target in list(self._targets.items()):
                if key in target.consumers:
                    target.consumers.discard(key)
                    if not target.consumers:
                        del self._targets[subject]
                        await _quietly(target.sub.drain())
                        log_fields(log, logging.INFO, "replay unsubscribed",
                                   consumer=key[1], subject=subject)

    async def drain(self) -> None:
        """Stop taking replayed frames (those already received are still handled)."""
        for sub in self._advisory_subs:
            await _quietly(sub.unsubscribe())
        async with self._lock:
            targets, self._targets = list(self._targets.values()), {}
        await asyncio.gather(*[_quietly(t.sub.drain()) for t in targets])


def parse_ack_subject(reply: str) -> tuple[str, str] | None:
    """(stream, consumer) from a JetStream ack subject, either
    $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> or the newer
    $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
    with an optional trailing token."""
    tokens = reply.split(".")
    if len(tokens) < 9 or not reply.startswith(contract.JS_ACK_PREFIX):
        return None
    if len(tokens) == 9:
        return tokens[2], tokens[3]
    return tokens[4], tokens[5]


def _names(msg: Msg) -> tuple[str, str]:
    try:
        data = json.loads(msg.data)
        return str(data.get("stream") or ""), str(data.get("consumer") or "")
    except (ValueError, AttributeError):
        return "", ""


async def _quietly(aw: Awaitable[object]) -> None:
    try:
        await aw
    except (nats.errors.Error, asyncio.TimeoutError) as exc:
        log_fields(log, logging.DEBUG, "ignored", error=str(exc))
