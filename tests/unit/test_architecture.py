"""The tree shows the architecture, and this test keeps it so.

The rule, in one sentence: ``core`` is pure and imports nothing of ours but ``errors``; an
adapter speaks one technology and may use ``core``; a service wires adapters and ``core`` and
never imports another service; only ``cli``, ``up`` and ``jobs`` bring services together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "deleton"

CORE = {"core"}
ADAPTERS = {"postgres", "kafka", "mail", "dump", "prometheus", "pdf", "cloudwatch", "credentials"}
SERVICES = {"ingest", "simulator", "dashboard", "admin", "compress", "report", "api", "access"}
COMPOSERS = {"cli", "up", "jobs", "lambdas"}
SHARED = {"errors", "settings", "lifecycle", "logs", "snapshot", "private", "__init__"}

# What core may import besides itself and ``deleton.errors``: the standard library's pure
# modules, and orjson. Nothing that touches files, sockets, processes, threads or the clock.
CORE_MAY_IMPORT = {
    "__future__", "abc", "bisect", "collections", "dataclasses", "datetime", "decimal", "enum",
    "fractions", "functools", "hashlib", "heapq", "itertools", "math", "operator", "random",
    "re", "statistics", "string", "struct", "types", "typing", "zlib", "orjson",
}  # fmt: skip
# Calls that read the clock or do I/O: (owner, name), None for any name of that owner.
CORE_MAY_NOT_CALL = {
    ("time", None), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
    ("date", "today"), ("os", None), ("sys", None),
}  # fmt: skip
CORE_MAY_NOT_CALL_BUILTINS = {"open", "print", "input"}


def room(module: str) -> str:
    """The first name below ``deleton``: the room a module lives in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def ring(module: str) -> str:
    name = room(module)
    for rooms, ring_name in (
        (CORE, "core"),
        (ADAPTERS, "adapter"),
        (SERVICES, "service"),
        (COMPOSERS, "composer"),
        (SHARED, "shared"),
    ):
        if name in rooms:
            return ring_name
    return "unknown"


def imports(module: str, source: str) -> list[str]:
    """Every module ``source`` imports, absolute, relative ones resolved against ``module``."""
    package = module if module.endswith("__init__") else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(target)
            # ``from . import charts`` imports a module, not a name
            found += [f"{target}.{alias.name}" for alias in node.names if node.module is None]
    return found


def forbidden_calls(source: str) -> list[str]:
    """Calls in ``source`` that read the clock or global randomness, or do I/O."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in CORE_MAY_NOT_CALL_BUILTINS:
            found.append(f"{func.id}()")
        elif isinstance(func, ast.Attribute):
            owner = func.value
            # ``dt.datetime.now()``: the owner is the last name before the call's
            owner_name = (
                owner.id
                if isinstance(owner, ast.Name)
                else owner.attr
                if isinstance(owner, ast.Attribute)
                else ""
            )
            name = func.attr
            if (owner_name, None) in CORE_MAY_NOT_CALL or (owner_name, name) in CORE_MAY_NOT_CALL:
                found.append(f"{owner_name}.{name}()")
            if owner_name == "random" and name != "Random":  # the hidden global generator
                found.append(f"random.{name}()")
    return found


def violations(module: str, source: str) -> list[str]:
    """What ``module`` (with this ``source``) does against the rule; empty when it keeps it."""
    kind = ring(module)
    if kind == "unknown":
        return [f"{module} is in no ring: add its room to one in test_architecture"]
    problems = []
    for target in imports(module, source):
        top = target.split(".")[0]
        ours = top == "deleton"
        target_ring = ring(target) if ours else "library"
        if kind == "core":
            if (ours and target_ring == "core") or target == "deleton.errors":
                continue
            if not ours and top in CORE_MAY_IMPORT:
                continue
            problems.append(f"{module} (core) imports {target}")
        elif kind == "shared" and ours and target_ring not in ("shared", "core"):
            problems.append(f"{module} (shared) imports {target} ({target_ring})")
        elif kind == "adapter" and target_ring in ("service", "composer"):
            problems.append(f"{module} (adapter) imports {target} ({target_ring})")
        elif (
            kind == "service"
            and target_ring in ("service", "composer")
            and room(target) != room(module)
        ):
            problems.append(f"{module} (service) imports {target} ({target_ring})")
    if kind == "core":
        problems += [f"{module} (core) calls {call}" for call in forbidden_calls(source)]
    return problems


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((".".join(parts), path))
    return found


def test_every_module_keeps_the_rule() -> None:
    assert len(modules()) > 30
    problems = [p for module, path in modules() for p in violations(module, path.read_text())]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("deleton.core.tracker", "import socket", "imports socket"),
        ("deleton.core.tracker", "from ..postgres import store", "imports deleton.postgres"),
        ("deleton.core.tracker", "import psycopg", "imports psycopg"),
        ("deleton.core.tracker", "from ..dashboard import views", "imports deleton.dashboard"),
        ("deleton.core.fleet_status", "t = time.time()", "calls time.time()"),
        ("deleton.core.fleet_status", "x = random.random()", "calls random.random()"),
        ("deleton.core.fleet_status", "d = dt.datetime.now()", "calls datetime.now()"),
        ("deleton.core.wire", "open('x')", "calls open()"),
        ("deleton.ingest.command", "from ..dashboard.app import serve", "imports deleton.dash"),
        ("deleton.dashboard.views", "from ..up import up", "imports deleton.up"),
        ("deleton.postgres.store", "from ..ingest import ingestor", "imports deleton.ingest"),
        ("deleton.settings", "from .postgres import store", "imports deleton.postgres"),
        ("deleton.newroom.thing", "", "in no ring"),
    ],
)
def test_the_rule_catches_each_kind_of_breach(module: str, source: str, expected: str) -> None:
    problems = violations(module, source)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("deleton.core.tracker", "from . import alerts\nfrom ..errors import TransientError"),
        ("deleton.core.simulation", "import random\nrng = random.Random(1)"),
        ("deleton.ingest.command", "from ..postgres.store import PostgresStore\nfrom . import x"),
        ("deleton.up", "from .dashboard.command import start\nfrom .ingest.command import serve"),
    ],
)
def test_what_the_rule_allows(module: str, source: str) -> None:
    assert violations(module, source) == []
