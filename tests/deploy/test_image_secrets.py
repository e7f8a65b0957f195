"""The image tests' own hygiene, without a Docker engine: the generated database passwords
reach ``docker run`` through its environment, never its command line (where ``ps`` shows
them), and a failed docker command's message, which pytest prints, carries none of them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from .test_image import PASSWORDS, fargate


def test_a_failed_docker_run_shows_no_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}
    secret = PASSWORDS["DELETON_DB_WRITER_PASSWORD"]
    url = "postgresql://deleton_writer_login:hunter2-url@127.0.0.1:5/deleton"

    def failing(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.update(argv=argv, env=kwargs.get("env") or {})
        # a container that echoes what it was given, as a crashing entrypoint may
        return subprocess.CompletedProcess(argv, 125, f"connecting to {url}", f"bad {secret}")

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(AssertionError) as failure:
        fargate("deleton:x", tmp_path, {"DELETON_DATABASE_URL": url, **PASSWORDS}, "db", "init")
    message = str(failure.value)
    for password in (*PASSWORDS.values(), "hunter2-url"):
        assert password not in message
        assert not any(password in arg for arg in seen["argv"])
    assert seen["env"]["DELETON_DB_WRITER_PASSWORD"] == secret  # docker passes it on by name
    assert "-e DELETON_DB_WRITER_PASSWORD " in " ".join(seen["argv"]) + " "
