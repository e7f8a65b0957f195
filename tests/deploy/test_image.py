"""The image, built and run here as Fargate runs it: uid 10001, a read-only root, the home
folder mounted. With it, ``db init`` against a real PostgreSQL over TLS verified against the
CA bundle the image carries (``sslmode=verify-full``, as the database URLs on AWS say), the
report writing its PDF into the home folder, and the API answering ``/health``; its size and
start time go to build/deploy/image.md.

Needs a Docker engine and the base image's stand-in (make deploy-check provides both: Docker
Hub is out of reach, so the base is Debian bookworm made with debootstrap); without them,
every test here skips and says so.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .conftest import ROOT, debian_postgres, free_port

pytestmark = [pytest.mark.image, pytest.mark.slow, pytest.mark.timeout(1800)]

BASE = os.environ.get("DELETON_DOCKER_BASE", "deleton-standin/python:3.11-slim-bookworm")
TAG = "deleton:deploy-check"
CA_IN_IMAGE = "/opt/deleton/ca/rds-ca-bundle.pem"
REPORT = ROOT / "build" / "deploy" / "image.md"


def docker(
    *args: str, timeout: float = 900, check: bool = True, secrets: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS``; ``secrets`` reach it through its environment only (``-e NAME`` in
    ARGS passes one on to a container), never on its command line, where ``ps`` and a
    failure's message would show them. A failure's message shows no secret: neither these
    nor the test's generated passwords."""
    env = {**os.environ, **(secrets or {})}
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)  # fmt: skip
    if check and done.returncode != 0:
        hidden = [*PASSWORDS.values(), *(secrets or {}).values()]
        raise AssertionError(redact(f"docker {' '.join(args)} exited {done.returncode}:\n"
                                    f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}", hidden))  # fmt: skip
    return done


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets``, and any password in a database URL, starred out."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


@pytest.fixture(scope="module")
def engine() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client (make deploy-check installs Debian's docker.io)")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine answers (make deploy-check starts Debian's dockerd)")
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode:
        pytest.skip(f"no base image {BASE}: tests/deploy/base-image.sh makes the stand-in")


def certificate_authority(folder: Path) -> dict[str, Path]:
    """A CA standing in for RDS's, and a certificate it signs for 127.0.0.1 (the server's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("stand-in RDS CA")).issuer_name(name("stand-in RDS CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server = (
        x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.crt", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(pem))
    paths["cert"].write_bytes(server.public_bytes(pem))
    paths["key"].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
    paths["key"].chmod(0o600)
    return paths


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return certificate_authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def image(engine: None, tls: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image, built from the repository's files with the stand-in CA as the RDS bundle."""
    context = tmp_path_factory.mktemp("context")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    for name in listed:
        if (ROOT / name).is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, context / name)
    shutil.copy(tls["ca"], context / "deploy" / "ca" / "rds-ca-bundle.pem")
    started = time.monotonic()
    docker("build", "--platform", "linux/amd64", "--build-arg", f"BASE_IMAGE={BASE}",
           "-t", TAG, str(context))  # fmt: skip
    built = time.monotonic() - started
    size = int(docker("image", "inspect", "-f", "{{.Size}}", TAG).stdout)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(f"- image `{TAG}` on `{BASE}`: {size / 2**20:.0f} MiB, built in "
                      f"{built:.0f} s\n")  # fmt: skip
    return TAG


@pytest.fixture(scope="module")
def database(tls: dict[str, Path]) -> Iterator[str]:
    """A PostgreSQL serving TLS with the stand-in CA's certificate for 127.0.0.1 (Debian's
    server: the embedded one is built without SSL), on a free loopback port; its
    administrator's URL as a container reaches it, verifying the server against the bundle in
    the image."""
    tls_settings = {"ssl": "on", "ssl_cert_file": f"{{folder}}/{tls['cert'].name}",
                    "ssl_key_file": f"{{folder}}/{tls['key'].name}"}  # fmt: skip
    with debian_postgres(tls_settings, files=[tls["cert"], tls["key"]]) as server:
        yield f"{server.url()}?sslmode=verify-full&sslrootcert={CA_IN_IMAGE}"


def local(url: str) -> str:
    """The same database as this process reaches it (no bundle here: TLS, unverified)."""
    return url.replace(f"verify-full&sslrootcert={CA_IN_IMAGE}", "require")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The home folder as Fargate's task volume gives it to user 10001."""
    folder = tmp_path / "home"
    folder.mkdir()
    os.chown(folder, 10001, 10001)
    return folder


def fargate(image: str, home: Path, env: dict[str, str], *command: str, detach: bool = False,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``docker run`` as the task definitions run the image."""
    flags = ["--network", "host", "--read-only", "--user", "10001:10001",
             "-v", f"{home}:/var/lib/deleton"]  # fmt: skip
    for key in env:
        flags += ["-e", key]  # the value from docker's own environment: never on its command line
    mode = ["-d"] if detach else ["--rm"]
    return docker("run", *mode, *flags, image, *command, timeout=timeout, secrets=env)


def logs(container: str) -> str:
    """The end of what ``container`` wrote to stderr, for a failure's message: no password."""
    return redact(docker("logs", container).stderr[-3000:], list(PASSWORDS.values()))


def login_url(admin: str, login: str) -> str:
    params: dict[str, Any] = conninfo_to_dict(admin)
    params.update(user=login)
    params.pop("password", None)
    return make_conninfo(**params)


PASSWORDS = {
    f"DELETON_DB_{login}_PASSWORD": f"{login.lower()}-{uuid.uuid4().hex}"
    for login in ("WRITER", "READER", "API", "OPERATOR")
}  # as Terraform's migrate task


@pytest.fixture(scope="module")
def migrated(image: str, database: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    home = tmp_path_factory.mktemp("migrate")
    os.chown(home, 10001, 10001)
    fargate(image, home, {"DELETON_DATABASE_URL": database, **PASSWORDS}, "db", "init")
    return database


def test_db_init_over_verified_tls_as_fargate_runs_it(migrated: str) -> None:
    with psycopg.connect(local(migrated)) as conn:
        logins = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE"
                                            " 'deleton_%_login'")}  # fmt: skip
        assert logins == {"deleton_writer_login", "deleton_reader_login", "deleton_api_login",
                          "deleton_operator_login"}  # fmt: skip
        assert conn.execute("SHOW ssl").fetchone() == ("on",)


def test_a_certificate_from_another_ca_is_refused(image: str, database: str, home: Path) -> None:
    wrong_ca = database.replace(CA_IN_IMAGE, "/etc/ssl/certs/ca-certificates.crt")
    done = docker("run", "--rm", "--network", "host", "--read-only", "--user", "10001:10001",
                  "-v", f"{home}:/var/lib/deleton", "-e", "DELETON_DATABASE_URL",
                  image, "db", "init", check=False,
                  secrets={"DELETON_DATABASE_URL": wrong_ca})  # fmt: skip
    assert done.returncode != 0
    assert "certificate verify failed" in done.stderr + done.stdout


def test_the_report_writes_its_pdf_into_the_home_folder(migrated: str, image: str,
                                                        home: Path) -> None:  # fmt: skip
    url = login_url(migrated, "deleton_reader_login")
    fargate(image, home, {"DELETON_READER_DATABASE_URL": url,
                          "PGPASSWORD": PASSWORDS["DELETON_DB_READER_PASSWORD"]}, "report")  # fmt: skip
    (pdf,) = (home / "reports").glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_uid == 10001


def test_the_api_answers_health_and_stops_on_sigterm(migrated: str, image: str,
                                                     home: Path) -> None:  # fmt: skip
    port = free_port()
    env = {"DELETON_API_DATABASE_URL": login_url(migrated, "deleton_api_login"),
           "PGPASSWORD": PASSWORDS["DELETON_DB_API_PASSWORD"],
           "DELETON_API_HOST": "127.0.0.1", "DELETON_API_PORT": str(port)}  # fmt: skip
    started = time.monotonic()
    container = fargate(image, home, env, "api", detach=True).stdout.strip()
    try:
        deadline = started + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                state = docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip()
                assert state == "true", logs(container)
                assert time.monotonic() < deadline, "the API did not answer within 120 s"
                time.sleep(0.2)
        ready = time.monotonic() - started
        docker("stop", "-t", "30", container)
        code = docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip()
        assert code == "0", logs(container)
    finally:
        docker("rm", "-f", container, check=False)
    with REPORT.open("a") as report:
        report.write(f"- `deleton api` answered /health {ready:.1f} s after docker run\n")


def test_a_fresh_volume_at_home_belongs_to_the_service(image: str) -> None:
    volume = f"deleton-home-{uuid.uuid4().hex[:8]}"
    try:
        done = docker("run", "--rm", "--read-only", "--user", "10001:10001", "-v",
                      f"{volume}:/var/lib/deleton", "--entrypoint", "python", image, "-c",
                      "import os; open('/var/lib/deleton/x', 'w').write('x');"
                      f" print(os.path.exists('{CA_IN_IMAGE}'))")  # fmt: skip
        assert done.stdout.strip() == "True"
    finally:
        docker("volume", "rm", "-f", volume, check=False)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    if shutil.which("docker"):
        subprocess.run(["docker", "image", "prune", "-f"], capture_output=True)
