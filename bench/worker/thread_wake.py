"""Benchmark: what one hand-off between the worker's threads costs a frame.

    python -m bench.worker.thread_wake [--frames 200] [--pace-ms 40]

A frame crosses the worker's threads three times (event loop -> decode thread -> model
thread -> event loop, serving/in_flight.py). Each crossing wakes a thread that sleeps on
a condition (the model thread's queue) or a self-pipe (the loop). This measures the
first kind alone: a thread notifies a sleeping one and the time until it runs, with
`--pace-ms` between frames (a webcam's pace: the waker finds the other thread asleep,
its core maybe idle) and back to back (0 ms: it may still be about to sleep).

Its figure says how much removing a crossing could give a paced frame: the wake-up,
not the CPU of the code around it (bench.worker.per_frame measures that).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import threading
import time


def wake_latencies_us(frames: int, pace_s: float) -> list[float]:
    """Microseconds from notify() to the sleeping thread running, one per frame."""
    ready = threading.Condition()
    sent: list[int | None] = []
    seen: list[float] = []

    def sleeper() -> None:
        while True:
            with ready:
                while not sent:
                    ready.wait()
                stamp = sent.pop()
            if stamp is None:
                return
            seen.append((time.perf_counter_ns() - stamp) / 1000.0)

    thread = threading.Thread(target=sleeper, name="sleeper")
    thread.start()
    for _ in range(frames):
        if pace_s > 0:
            time.sleep(pace_s)
        else:
            while sent:  # the last one taken: the sleeper is on its way back to wait()
                time.sleep(0)
        with ready:
            sent.append(time.perf_counter_ns())
            ready.notify()
    with ready:
        sent.append(None)
        ready.notify()
    thread.join()
    return seen


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="hand-offs per pace")
    parser.add_argument("--pace-ms", type=float, default=40.0, help="time between frames (25 fps: 40)")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("| pace | p50 us | p90 us | p99 us |")
    print("|---|---:|---:|---:|")
    for pace_ms in (args.pace_ms, 0.0):
        lat = sorted(wake_latencies_us(args.frames, pace_ms / 1000.0))
        print(f"| {pace_ms:g} ms | {statistics.median(lat):.0f} | {quantile(lat, 0.9):.0f} | "
              f"{quantile(lat, 0.99):.0f} |")


if __name__ == "__main__":
    main()
