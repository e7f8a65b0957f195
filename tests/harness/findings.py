"""The fault suite's table: what each scenario did, how many messages, how many rows lost and
duplicated, dead letters expected and found, and crashes. Printed at the end of the run and
written to ``build/faults.md`` (``DELETON_FAULTS_REPORT``).

A plugin of the root conftest, not of ``tests/faults``: under pytest-xdist the scenarios run
in worker processes while the table is printed by the controller, which never loads the
fault suite's conftest. Each worker hands its rows over in ``workeroutput``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCALE = float(os.environ.get("DELETON_FAULTS_SCALE", "1"))
REPORT = Path(os.environ.get("DELETON_FAULTS_REPORT", ROOT / "build" / "faults.md"))
_KEY = "deleton_faults"


@dataclass
class Finding:
    scenario: str
    done: str
    messages: int
    lost: int
    duplicated: int
    dead_letters: str  # "found / expected"
    crashes: int
    verdict: str


FINDINGS: list[Finding] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints the table
        workeroutput[_KEY] = json.dumps([asdict(f) for f in FINDINGS])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    rows = json.loads(getattr(node, "workeroutput", {}).get(_KEY, "[]"))
    FINDINGS.extend(Finding(**row) for row in rows)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not FINDINGS or hasattr(config, "workerinput"):
        return
    head = "| scenario | what was done | messages | lost | duplicated | dead letters found / expected | crashes | result |"
    lines = [head, "|---" * 8 + "|"]
    for f in sorted(FINDINGS, key=lambda f: f.scenario):  # the same order however many workers
        lines.append(
            f"| {f.scenario} | {f.done} | {f.messages:,} | {f.lost} | {f.duplicated} |"
            f" {f.dead_letters} | {f.crashes} | {f.verdict} |"
        )
    table = "\n".join(lines)
    terminalreporter.write_sep("=", "fault suite")
    terminalreporter.write_line(table)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(f"# Fault suite (scale {SCALE:g})\n\n{table}\n")
