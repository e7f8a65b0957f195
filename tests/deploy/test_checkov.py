"""checkov over the Terraform: nothing it finds is left unexplained (each skip in the
Terraform says why). A Terraform check, so it runs with tests/deploy (make deploy-test), in
checkov's own virtualenv (make checkov)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.slow
def test_checkov_finds_nothing_unexplained() -> None:
    assert CHECKOV.exists(), "make checkov installs checkov in .venv-checkov"
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(TERRAFORM), "--framework", "terraform", "--quiet",
         "--compact", "--output", "json", "--skip-download"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in report["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0, "\n".join(failed)
    assert summary["passed"] > 100  # it did look
