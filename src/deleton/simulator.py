"""Runs a simulated fleet against the clock and hands its messages to a sink.

The fleet (``fleet.py``) is pure; this module adds pacing (real time, N times faster, or as fast
as the machine allows) and, for load generation, worker processes: each simulates every n-th
bike and renders its messages, and this process only numbers and writes them. A bike lives in
one worker, so its messages stay in order. The clock and sleep are injected so tests need not
wait.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Generic, Protocol, TypeVar

import orjson

from .fleet import Fleet, Line
from .wire import envelope

log = logging.getLogger(__name__)

R = TypeVar("R")


class Sink(Protocol, Generic[R]):
    """Where messages go. ``render`` is pure (it runs in worker processes); ``emit`` writes."""

    def render(self, lines: list[Line], tick_end: int) -> R: ...

    def emit(self, rendered: R) -> int: ...

    def close(self) -> None: ...


class KcatSink:
    """Writes each message as a ``kcat -C -J`` JSON line, numbered per partition."""

    def __init__(self, stream: BinaryIO, topic: str, partitions: int = 1) -> None:
        self.stream = stream
        self.topic = topic
        self.partitions = partitions
        self.offsets = [0] * partitions
        self._heads = [
            f'{{"topic":{orjson.dumps(topic).decode()},"partition":{p},"offset":'
            for p in range(partitions)
        ]
        self._templates: dict[str, tuple[int, str]] = {}

    def _template(self, key: str) -> tuple[int, str]:
        partition = zlib.crc32(key.encode()) % self.partitions
        template = (partition, f',"broker":-1,"key":{orjson.dumps(key).decode()},"payload":')
        self._templates[key] = template
        return template

    def render(self, lines: list[Line], tick_end: int) -> tuple[int, bytes]:
        """The records of ``lines``, numbered: it runs in the worker that owns their bikes,
        and a worker's bikes hash to partitions no other worker writes (``Fleet`` shares)."""
        out = []
        offsets = self.offsets
        heads = self._heads
        templates = self._templates
        for key, at, text in lines:
            partition, after = templates.get(key) or self._template(key)
            offset = offsets[partition]
            offsets[partition] = offset + 1
            head = heads[partition]
            ts = (tick_end if at is None else at) // 1000
            if '"' in text or "\\" in text:
                payload = orjson.dumps(envelope(text).decode()).decode()
                out.append(f'{head}{offset},"tstype":"create","ts":{ts}{after}{payload}}}\n')
            else:  # the envelope of a plain line, JSON-quoted, without encoding it twice
                out.append(
                    f'{head}{offset},"tstype":"create","ts":{ts}{after}'
                    f'"{{\\"log\\": \\"{text}\\\\n\\"}}"}}\n'
                )
        return len(out), "".join(out).encode()

    def emit(self, rendered: tuple[int, bytes]) -> int:
        count, data = rendered
        self.stream.write(data)
        return count

    def close(self) -> None:
        self.stream.flush()


def _worker(
    conn: multiprocessing.connection.Connection,
    sink: Sink[Any],
    size: int,
    seed: int,
    start: int,
    until: int | None,
    share: tuple[int, int],
) -> None:
    fleet = Fleet(size, seed, start, share)
    try:
        for tick_end, lines in fleet.ticks(until):
            conn.send((tick_end, sink.render(lines, tick_end)))
        conn.send(None)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


def rendered_ticks(
    sink: Sink[R], size: int, seed: int, start: int, until: int | None, workers: int
) -> Iterator[tuple[int, list[R]]]:
    """Per tick, its end time and the rendered messages of each worker's bikes."""
    if workers > 1 and getattr(sink, "partitions", workers) % workers:
        raise ValueError("the partitions must divide among the workers")
    if workers <= 1:
        for tick_end, lines in Fleet(size, seed, start).ticks(until):
            yield tick_end, [sink.render(lines, tick_end)]
        return
    context = multiprocessing.get_context("fork")
    pipes = []
    processes = []
    for k in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker,
            args=(sender, sink, size, seed, start, until, (k, workers)),
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
) -> int:
    """Feed ``sink`` until simulated time ``until`` (or ``stop()``); ``speed`` None means as
    fast as possible. Returns the number of messages written."""
    wall_start = now()
    count = 0
    last_report = wall_start
    for tick_end, parts in rendered_ticks(sink, size, seed, start, until, workers):
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


def stdout_sink(topic: str, partitions: int) -> KcatSink:
    return KcatSink(sys.stdout.buffer, topic, partitions)
