"""docker-compose gives each service its own database login, and only `migrate` the
administrator's: read from the compose file, against what each service's command opens."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# the logins each service's command connects as (`settings.database(...)` in its code)
NEEDS = {
    "migrate": {"admin"},
    "simulator": set(),  # produces to Kafka only
    "ingest": {"writer"},
    "dashboard": {"reader"},
    "api": {"api"},
    "jobs": {"writer", "reader"},  # compression writes, the report reads
}
LOGIN = {"deleton": "admin", "deleton_writer_login": "writer",
         "deleton_reader_login": "reader", "deleton_api_login": "api",
         "deleton_operator_login": "operator"}  # fmt: skip
# which variable carries which login, as settings.database(login) reads them
VARIABLE = {"writer": "DELETON_DATABASE_URL", "reader": "DELETON_READER_DATABASE_URL",
            "api": "DELETON_API_DATABASE_URL", "admin": "DELETON_DATABASE_URL",
            "operator": "DELETON_OPERATOR_DATABASE_URL"}  # fmt: skip


def test_each_service_connects_as_its_own_login_and_only_migrate_as_the_administrator() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, needs in NEEDS.items():
        environment = services[name].get("environment", {})
        urls = {k: v for k, v in environment.items() if k.endswith("DATABASE_URL")}
        users = [re.findall(r"^postgresql://([^:]+):", url) for url in urls.values()]
        logins = {LOGIN[user] for found in users for user in found}
        assert len(logins) == len(urls), name
        assert logins == needs, name
        for login in needs:
            user = next(u for u, group in LOGIN.items() if group == login)
            assert environment[VARIABLE[login]].startswith(f"postgresql://{user}:"), name
        passwords = {k for k in environment if k.startswith("DELETON_DB_")}
        assert (passwords != set()) is (name == "migrate"), name
