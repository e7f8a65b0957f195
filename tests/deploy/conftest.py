"""The world tests/deploy share: Terraform with the AWS provider from a local mirror, an
emulated AWS (moto's server, tests/deploy/emulator.py) on a free loopback port, a certificate
imported into it, and a scratch copy of deploy/ with a local backend, initialised once.

Terraform and the mirror are found, not assumed: ``terraform`` on PATH, and the provider under
a ``registry.terraform.io`` folder in the usual places (or ``DELETON_TF_PLUGIN_MIRROR``). On a
machine without either, every test here skips and says which is missing; under CI
(``CI=true``, which CI services set and ``.ci/run`` exports) a missing tool fails instead, so
that the Terraform's checks can never quietly stop running there.

Also here: Debian's PostgreSQL server, started on a free loopback port (``debian_postgres``),
for what the embedded one cannot do (TLS, RDS's logging parameters with pg_stat_statements).
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(__file__).resolve().parent / "bin"
REGION = "eu-west-2"
DOMAIN = "deleton.example.com"
# where Terraform's own documentation and distributions put a filesystem mirror
MIRROR_ROOTS = ("/opt", "/usr/local/share", "/usr/share", "~/.terraform.d/plugins",
                "~/.local/share/terraform/plugins", "/usr/local/share/terraform/plugins")  # fmt: skip
PROVIDER = "registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws*"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deploy_check: runs deploy.sh twice, in make deploy-check only"
    )
    config.addinivalue_line(
        "markers", "image: builds and runs the image; skips where no Docker engine answers"
    )


def under_ci() -> bool:
    """Whether this run is CI's, which must run every check: ``CI`` set to true (GitHub
    Actions, GitLab, Buildkite and ``.ci/run`` set it so)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip for want of a tool, saying which; under CI, where ``make test`` installs every
    tool, fail instead: a skip there would hide that the Terraform was never checked."""
    if under_ci():
        pytest.fail(f"{reason} (CI={os.environ['CI']}: CI runs every deployment check)")
    pytest.skip(reason)


def refused_by_deploy_sh() -> re.Pattern[str]:
    """deploy.sh's destroy check: the ``grep -E`` its ``plan`` runs on ``terraform show``'s
    text before anything is applied, as a pattern."""
    script = (DEPLOY / "deploy.sh").read_text()
    found = re.search(r"^stateful='([^']*)'", script, re.M)
    assert found is not None
    assert '"# ($stateful)\\.[^ ]* (will be destroyed|must be replaced|will be replaced)"' in script
    return re.compile(
        rf"# ({found.group(1)})\.[^ ]* (will be destroyed|must be replaced|will be replaced)"
    )


def find_mirror() -> Path | None:
    """The folder above ``registry.terraform.io`` that holds the AWS provider, if any."""
    override = os.environ.get("DELETON_TF_PLUGIN_MIRROR")
    roots = [Path(override)] if override else [Path(r).expanduser() for r in MIRROR_ROOTS]
    for root in roots:
        for depth in ("", "*/", "*/*/"):
            for found in sorted(root.glob(depth + PROVIDER)):
                return found.parents[5]
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def terraform_tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform: the CLI config that installs the provider from the mirror."""
    if shutil.which("terraform") is None:
        unavailable("terraform is not on PATH (this kind of machine has it in /usr/local/bin)")
    mirror = find_mirror()
    if mirror is None:
        unavailable("no filesystem mirror of the AWS provider (registry.terraform.io/hashicorp/"
                    f"aws) under {', '.join(MIRROR_ROOTS)} or DELETON_TF_PLUGIN_MIRROR")  # fmt: skip
    config = tmp_path_factory.mktemp("terraform") / "cli.tfrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
    )
    return {"TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


@pytest.fixture(scope="session")
def real_aws() -> str:
    """The aws CLI, from its own virtualenv (make awscli)."""
    cli = ROOT / ".venv-aws" / "bin" / "aws"
    if not cli.exists():
        unavailable("the aws CLI is not installed: make awscli")
    return str(cli)


@pytest.fixture(scope="session")
def emulator(terraform_tools: dict[str, str]) -> Iterator[str]:
    """moto's server on a free loopback port, for the session; its URL."""
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"deleton-moto-{port}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("emulator.py")), str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: see {log.name}") from None
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def aws_env(emulator: str, terraform_tools: dict[str, str]) -> dict[str, str]:
    """The environment in which terraform, the aws CLI and boto3 all talk to the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    env.update(terraform_tools)
    env.update(
        AWS_ENDPOINT_URL=emulator,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        # the aws stub answers what an emulator without containers cannot (bin/aws)
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def client(aws_env: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def certificate_arn(aws_env: dict[str, str]) -> str:
    """A certificate for the dashboard's and the API's hosts, imported into the emulated ACM
    (an HTTPS listener needs one that exists)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = dt.datetime.now(dt.UTC)
    hosts = [x509.DNSName(DOMAIN), x509.DNSName(f"api.{DOMAIN}")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(hosts), critical=False)
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    arn: str = client(aws_env, "acm").import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM), PrivateKey=private
    )["CertificateArn"]
    return arn


def tfvars(certificate_arn: str, **more: Any) -> str:
    """A tfvars file's text: what an operator fills in, for the emulator."""
    values: dict[str, Any] = {
        "domain_name": DOMAIN,
        "certificate_arn": certificate_arn,
        "allowed_cidrs": ["203.0.113.0/24"],
        "kafka_bootstrap_servers": "kafka.deleton.example.com:9092",
        "mail_from": f"alerts@{DOMAIN}",
        "report_recipients": [f"ceo@{DOMAIN}"],
        # a throwaway environment, so that the emulator's apply can be destroyed
        "deletion_protection": False,
        **more,
    }
    return "".join(f"{key} = {hcl(value)}\n" for key, value in values.items())


def hcl(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(hcl(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return str(value)
    return '"' + str(value) + '"'


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    """Run a command, failing with everything it said when it fails."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n"
                             f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}")  # fmt: skip
    return done.stdout


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory, aws_env: dict[str, str]) -> Path:
    """deploy/ copied, with a local backend in place of S3, initialised from the mirror."""
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*",
                                                                 "*.tfvars", "*.plan"))  # fmt: skip
    terraform = copy / "terraform"
    (terraform / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    run(["terraform", "init", "-input=false", "-lockfile=readonly"], terraform, aws_env)
    return terraform


@dataclass(frozen=True)
class DebianPostgres:
    """A running server: its port, its folder (socket, files given to it) and its log."""

    port: int
    folder: Path
    log: Path

    def url(self, user: str = "postgres", database: str = "deleton") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"


@contextmanager
def debian_postgres(
    settings: dict[str, str], files: Sequence[Path] = (), login_auth: str = "trust"
) -> Iterator[DebianPostgres]:
    """Debian's PostgreSQL (``make deploy-test`` installs it), as the ``postgres`` user, on a
    free loopback port, with ``settings`` on its command line (``{folder}`` in a value: its
    folder) and ``files`` copied into that folder; the database ``deleton`` made. Its administrator ``postgres`` comes in without a
    password; every other role over TCP by ``login_auth`` (``scram-sha-256``: with its
    password). Everything the server says goes to ``log``."""
    servers = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not servers:
        unavailable("no Debian PostgreSQL server (make deploy-test installs postgresql)")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        unavailable("no postgres user to run Debian's PostgreSQL as")
    binaries = servers[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="deleton-pg-"))
    for file in files:
        shutil.copy(file, folder / file.name)
    for path in (folder, *folder.iterdir()):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    folder.chmod(0o700)
    data = folder / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "--no-sync"], check=True, capture_output=True)  # fmt: skip
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "host all postgres 127.0.0.1/32 trust\n"
        f"host all all 127.0.0.1/32 {login_auth}\n"
    )
    port = free_port()
    log = folder / "server.log"
    options = [f"-c{key}={value.format(folder=folder)}" for key, value in settings.items()]
    with log.open("w") as sink:
        server = subprocess.Popen(
            [*as_postgres, str(binaries / "postgres"), "-D", str(data), "-p", str(port),
             "-k", str(folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", *options],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = DebianPostgres(port, folder, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(running.url(database="postgres"), autocommit=True,
                                     connect_timeout=2) as conn:  # fmt: skip
                    conn.execute("CREATE DATABASE deleton")
                break
            except psycopg.OperationalError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield running
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
