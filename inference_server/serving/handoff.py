"""Handing results from the worker's threads (decode, model) back to the event loop:
the futures the loop awaits are settled there, as many as are ready in one wake-up
of the loop (one call_soon_threadsafe: one write to its self-pipe)."""

from __future__ import annotations

import asyncio
from typing import Any

# A future awaited on the loop, and what it gets: its value, or its error when not None.
Settled = tuple["asyncio.Future[Any]", Any, BaseException | None]


def hand_back(loop: asyncio.AbstractEventLoop, settled: list[Settled]) -> None:
    """From any thread: settle each future of `settled` on `loop`, in one call. A future
    already done (its awaiter gave up) is left as it is; a closed loop gets nothing
    (nobody awaits anything there any more)."""
    try:
        loop.call_soon_threadsafe(_settle, settled)
    except RuntimeError:  # the loop is closed
        pass


def _settle(settled: list[Settled]) -> None:
    for future, value, error in settled:
        if future.done():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
