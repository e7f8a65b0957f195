"""When ingestion is healthy, as ``/healthz`` answers an orchestrator: the policy over the
figures ``prometheus.metrics`` keeps."""

from __future__ import annotations

from typing import Any

from ..prometheus.metrics import Metrics

STUCK_AFTER = 30.0  # seconds without a turn of the loop: the process is stuck
BEHIND_AFTER = 120.0  # seconds without a commit while messages wait: it is not keeping up


def judge(metrics: Metrics) -> tuple[bool, dict[str, Any]]:
    """Healthy unless the loop has not turned for ``STUCK_AFTER`` seconds, or messages wait
    and nothing has committed for ``BEHIND_AFTER``; with what says why."""
    now = metrics.clock()
    loop_age = now - metrics.last_beat
    commit_age = now - metrics.last_commit
    stuck = loop_age > STUCK_AFTER
    behind = bool(metrics.lag) and commit_age > BEHIND_AFTER
    return not (stuck or behind), {
        "status": "stuck" if stuck else "behind" if behind else "ok",
        "seconds_since_loop": round(loop_age, 1),
        "seconds_since_commit": round(commit_age, 1),
        "lag": metrics.lag,
        "outbox_backlog": metrics.outbox_backlog(),
        # not a matter of health: a topic whose timestamps cannot be trusted keeps erased
        # riders erased (README, erasure), which an operator may want to know
        "broker_time_trusted": metrics.broker_time_trusted,
    }
