"""What a benchmark run leaves behind, and the words the README's table makes of it.

Every script writes its result with ``write``: one JSON file per benchmark,
``benchmarks/results/NAME.json``, overwritten by each run (git keeps the history). Beside the
figures it records what they were measured on: the commit and whether the working tree
differed from it, the cores, the arguments, the command, and the versions of PostgreSQL (the
server measured), librdkafka and Python.

Each script also has a ``row(record)`` that turns its file into a row of the README's
performance table (``python -m benchmarks.table``); the helpers here format figures the same
way in every row.

A file converted from older results names them (``converted_from``), and may hold
``other_runs``: runs on other code that the README quoted beside it, each with the file it
came from, its commit, its figures and a ``label`` saying what differed. Scripts never write
them: a rerun replaces the file, and its row shows the rerun's figures alone.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]
# Not part of what was measured: the results themselves, and the README their table is in.
# Without this, each benchmark of `make bench` would find the one before it made the tree dirty.
NOT_MEASURED = ("benchmarks/results", "README.md")


Show = Callable[[float], str]


class Row(NamedTuple):
    """A line of the README's performance table, but for its command, which the record has."""

    what: str
    figures: str


@dataclass(frozen=True)
class Record:
    """A benchmark's result file, read back."""

    name: str
    command: str
    arguments: dict[str, Any]
    figures: dict[str, Any]
    commit: str | None = None
    dirty: bool | None = None
    cores: int | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    converted_from: list[str] = field(default_factory=list)
    other_runs: list[dict[str, Any]] = field(default_factory=list)


def write(
    name: str, arguments: Mapping[str, Any], figures: dict[str, Any], database: str | None = None
) -> Path:
    """Write ``benchmarks/results/NAME.json``; ``database`` is the URL of the PostgreSQL the
    benchmark measured, whose version is recorded (None: it measured none)."""
    commit, dirty = _revision()
    record = {
        "benchmark": name,
        "command": _command(),
        "arguments": dict(arguments),
        "commit": commit,
        "dirty": dirty,
        "cores": os.cpu_count(),
        "versions": versions(database),
        "figures": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def scratch(prefix: str) -> Path:
    """A new folder under the temporary directory, removed when the process exits.

    Call it before starting an embedded PostgreSQL in the folder: the server registers its
    own stop at exit, and ``atexit`` runs the last registered first, so the server stops
    before its folder goes (a compression day leaves 2.5 GB otherwise)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def read(path: Path) -> Record:
    data = json.loads(path.read_text())
    return Record(
        name=data["benchmark"],
        command=data["command"],
        arguments=data["arguments"],
        figures=data["figures"],
        commit=data.get("commit"),
        dirty=data.get("dirty"),
        cores=data.get("cores"),
        versions=data.get("versions", {}),
        converted_from=data.get("converted_from", []),
        other_runs=data.get("other_runs", []),
    )


def versions(database: str | None) -> dict[str, str | None]:
    from confluent_kafka import libversion

    postgresql = None
    if database is not None:
        import psycopg

        with psycopg.connect(database) as conn:
            postgresql = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return {
        "postgresql": postgresql,
        "librdkafka": libversion()[0],
        "python": platform.python_version(),
    }


def _revision() -> tuple[str | None, bool | None]:
    """The commit checked out, and whether anything measured differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        excluded = [f":(exclude){path}" for path in NOT_MEASURED]
        changes = git("status", "--porcelain", "--", ".", *excluded)
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        return None, None
    return commit, bool(changes.strip())


def _command() -> str:
    """How this run was started, as typed from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


# --- figures in words: the same rounding in every row -------------------------------------


def thousands(value: float) -> str:
    """To the nearest thousand: 178,018 is "178,000"."""
    return f"{round(value, -3):,.0f}"


def whole(value: float) -> str:
    return f"{value:,.0f}"


def decimals(places: int) -> Show:
    """A formatter to ``places`` decimals."""
    return lambda value: f"{value:,.{places}f}"


def span(values: Iterable[float], show: Show = whole) -> str:
    """The smallest and largest as shown, "a-b", or one figure when they show the same."""
    ordered = sorted(values)
    low, high = show(ordered[0]), show(ordered[-1])
    return low if low == high else f"{low}-{high}"


def power_of_ten(value: int) -> str:
    """100000 as "10^5", where it is one."""
    exponent = len(str(value)) - 1
    return f"10^{exponent}" if value == 10**exponent else f"{value:,}"


def labelled(runs: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``other_runs`` grouped by their label, in order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run.get("label", ""), []).append(run)
    return list(groups.items())


def count_word(count: int) -> str:
    return {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}.get(count, str(count))
