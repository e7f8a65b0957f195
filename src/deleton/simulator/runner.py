"""Runs a simulated fleet against the clock and hands its messages to a sink.

The fleet (``core.simulation``) is pure; this module adds pacing (real time, N times faster,
or as fast as the machine allows) and, for load generation, worker processes: each simulates
every n-th bike and renders its messages, and this process only numbers and writes them. A bike
lives in one worker, so its messages stay in order. The clock and sleep are injected so tests
need not wait.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

from ..core.ports import Sink
from ..core.simulation import FaultyBike
from .riders import simulated_fleet

log = logging.getLogger(__name__)

R = TypeVar("R")


def _worker(
    conn: multiprocessing.connection.Connection,
    sink: Sink[Any],
    size: int,
    seed: int,
    start: int,
    until: int | None,
    share: tuple[int, int],
    faults: Mapping[int, FaultyBike] | None,
) -> None:
    fleet = simulated_fleet(size, seed, start, share, faults)
    try:
        for tick_end, lines in fleet.ticks(until):
            conn.send((tick_end, sink.render(lines, tick_end)))
        conn.send(None)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


def rendered_ticks(
    sink: Sink[R],
    size: int,
    seed: int,
    start: int,
    until: int | None,
    workers: int,
    faults: Mapping[int, FaultyBike] | None = None,
) -> Iterator[tuple[int, list[R]]]:
    """Per tick, its end time and the rendered messages of each worker's bikes."""
    if workers > 1 and getattr(sink, "partitions", workers) % workers:
        raise ValueError("the partitions must divide among the workers")
    if workers <= 1:
        for tick_end, lines in simulated_fleet(size, seed, start, faults=faults).ticks(until):
            yield tick_end, [sink.render(lines, tick_end)]
        return
    context = multiprocessing.get_context("fork")
    pipes = []
    processes = []
    for k in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker,
            args=(sender, sink, size, seed, start, until, (k, workers), faults),
            daemon=True,
        )
        process.start()
        sender.close()
        pipes.append(receiver)
        processes.append(process)
    try:
        while True:
            parts = [pipe.recv() for pipe in pipes]
            if any(part is None for part in parts):
                return
            yield parts[0][0], [part[1] for part in parts]
    finally:
        for process in processes:
            process.terminate()
            process.join()


def run(
    sink: Sink[R],
    *,
    size: int,
    seed: int,
    start: int,
    until: int | None,
    speed: float | None,
    workers: int = 1,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
    faults: Mapping[int, FaultyBike] | None = None,
) -> int:
    """Feed ``sink`` until simulated time ``until`` (or ``stop()``); ``speed`` None means as
    fast as possible; ``faults`` as ``SimulatedFleet`` takes them. Returns the number of
    messages written."""
    wall_start = now()
    count = 0
    last_report = wall_start
    for tick_end, parts in rendered_ticks(sink, size, seed, start, until, workers, faults):
        if stop():
            break
        if speed is not None:
            delay = wall_start + (tick_end - start) / 1e6 / speed - now()
            if delay > 0:
                sleep(delay)
        for rendered in parts:
            count += sink.emit(rendered)
        if now() - last_report >= 10:
            last_report = now()
            log.info("simulated %d messages, up to %s", count, tick_end)
    sink.close()
    return count


class Plan(NamedTuple):
    """How a run is spread: worker processes, and the partitions numbered on standard output."""

    workers: int
    partitions: int


def plan(
    bikes: int, fast: bool, to_stdout: bool, workers: int | None, partitions: int | None
) -> Plan:
    """Workers: as asked, else the cores (up to 4) for a large fleet as fast as possible, else
    one; never more than the bikes. On standard output each worker numbers its own partitions,
    so they must divide evenly among the workers, or one worker does it all."""
    count = workers or (min(os.cpu_count() or 1, 4) if fast and bikes >= 200 else 1)
    count = min(count, bikes)
    numbered = partitions or count
    if to_stdout and numbered % count:
        count = 1
    return Plan(count, numbered)
