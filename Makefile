# The two commands of the quick start: `make up` and `make test`. Everything they need is
# installed here, so they work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA_LIBS ?= $(HOME)/.cache/deleton/kafka-libs
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: up test install lock lock-upgrade kafka-jars chromium promtool checkov awscli lint unit \
	integration e2e faults soak bench deploy-test postgresql deploy-check clean

# Every package comes from a lock file with hashes (requirements/*.lock, written by make lock
# from pyproject.toml and requirements/*.in), then the project itself without dependencies:
# nothing is installed that the lock does not name, and pip check proves the lock complete.
LOCK := requirements/dev.lock
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

# uv writes the locks, for the one platform the project runs on (CPython 3.11 on x86_64 Linux,
# the machines' and the image's). make lock keeps every pin it can and adds what pyproject.toml
# gained; make lock-upgrade moves everything to its newest allowed version.
UV := .venv-lock/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock' $(UPGRADE)
$(UV): requirements/tools.lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --require-hashes -r requirements/tools.lock
	touch $(UV)

lock: $(UV)
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev --extra ses --extra aws \
		-o requirements/dev.lock
	# the image's: the same versions, fewer packages
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra aws -c requirements/dev.lock \
		-o requirements/image.lock
	$(UV_COMPILE) requirements/checkov.in -o requirements/checkov.lock
	$(UV_COMPILE) requirements/awscli.in -o requirements/awscli.lock
	$(UV_COMPILE) requirements/tools.in -o requirements/tools.lock

lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

# Kafka broker jars from Maven Central, cached outside git (see kafka/pom.xml).
kafka-jars: $(KAFKA_LIBS)/.complete
$(KAFKA_LIBS)/.complete: kafka/pom.xml
	mkdir -p $(KAFKA_LIBS)
	cd kafka && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(KAFKA_LIBS)
	touch $@

# Debian's Chromium for the browser tests; Playwright drives it and never downloads its own.
chromium: $(CHROMIUM)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

# Prometheus's promtool, from Debian's prometheus package (the server is installed with it but
# nothing here starts it): tests/unit/test_monitoring.py checks and tests the alert rules of
# deploy/monitoring with it, and fails, naming this target, where it is missing.
PROMTOOL := /usr/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus

# checkov, which checks the Terraform, in a virtualenv of its own: it pins old packages.
CHECKOV := .venv-checkov/bin/checkov
checkov: .venv-checkov/.installed
.venv-checkov/.installed: requirements/checkov.lock
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --require-hashes -r requirements/checkov.lock
	touch $@

# The aws CLI that tests/deploy drives deploy.sh and the migration with, in a virtualenv of
# its own: it pins botocore exactly.
awscli: .venv-aws/.installed
.venv-aws/.installed: requirements/awscli.lock
	$(PYTHON) -m venv .venv-aws
	.venv-aws/bin/pip install --quiet --require-hashes -r requirements/awscli.lock
	touch $@

up: $(STAMP)
	$(BIN)/deleton up

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# The suites run on every core (pytest-xdist): each worker starts its own PostgreSQL, Kafka
# broker and browser on free ports, and a worker that finishes early steals from the other.
XDIST := -n $(or $(WORKERS),auto) --dist worksteal
TEST_FAULTS_SCALE ?= 0.5

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q $(XDIST)

integration: $(STAMP) kafka-jars
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest tests/integration -q $(XDIST)

e2e: $(STAMP) chromium
	$(BIN)/pytest tests/e2e -q $(XDIST)

# The fault suite alone (it is part of make test too), and a longer soak of it: ten times the
# messages, kills and hostile input.
faults: $(STAMP) kafka-jars chromium
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest tests/faults -q $(XDIST)

soak: $(STAMP) kafka-jars chromium
	DELETON_FAULTS_SCALE=10 DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest tests/faults -q \
		-o timeout=3600

# The main suite, then the Terraform's (tests/deploy) as a run of its own, so that its time is
# reported apart: terraform plans and an apply and destroy against an emulated AWS take minutes.
# In the main suite the fault scenarios run at half their size (TEST_FAULTS_SCALE): every fault
# kind, assertion and page as in make faults, which runs them whole (a million messages killed
# ten times), and make soak, ten times whole.
# The image's tests skip there, saying why, unless a Docker engine answers (make deploy-check).
test: $(STAMP) kafka-jars chromium promtool checkov awscli
	$(MAKE) lint
	DELETON_FAULTS_SCALE=$(TEST_FAULTS_SCALE) DELETON_KAFKA_LIBS=$(KAFKA_LIBS) \
		$(BIN)/pytest -q --ignore=tests/deploy $(XDIST)
	$(MAKE) deploy-test

deploy-test: $(STAMP) awscli postgresql checkov
	$(BIN)/pytest -q tests/deploy -m "not deploy_check"

# Debian's PostgreSQL server, beside the embedded one: it has TLS and the contrib modules, so
# tests/deploy run it as RDS is set up (its logging parameters, pg_stat_statements) and the
# image's database over verified TLS. Installing it makes a cluster; nothing starts it.
postgresql:
	@ls /usr/lib/postgresql/*/bin/postgres > /dev/null 2>&1 || { $(SUDO) apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		--no-install-recommends postgresql; }

# The image built and run here, as Fargate runs it, and deploy/deploy.sh run twice against the
# emulated AWS. Docker Hub is out of reach: dockerd comes from Debian's docker.io, and the
# image's base is a stand-in built with debootstrap (tests/deploy/base-image.sh); Debian's
# PostgreSQL serves the image's database over TLS (the embedded one has no SSL).
DOCKER_BASE := deleton-standin/python:3.11-slim-bookworm
deploy-check: $(STAMP) awscli postgresql
	@command -v dockerd > /dev/null && command -v debootstrap > /dev/null || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
		-y -qq --no-install-recommends docker.io debootstrap; }
	$(SUDO) tests/deploy/dockerd.sh
	$(SUDO) tests/deploy/base-image.sh $(DOCKER_BASE)
	DELETON_DOCKER_BASE=$(DOCKER_BASE) $(BIN)/pytest -q tests/deploy -m "image or deploy_check"

# Every benchmark the README's performance table reports, with its arguments there (over an
# hour: the soak alone takes one), then the table regenerated from benchmarks/results/.
WRK := /usr/bin/wrk
$(WRK):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends wrk

bench: $(STAMP) kafka-jars chromium $(WRK)
	$(BIN)/python benchmarks/simulate.py --bikes 20000 --seconds 200 --runs 3
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/python benchmarks/ingest.py throughput --seconds 20 --runs 2
	$(BIN)/python benchmarks/tracker.py
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/python benchmarks/ingest.py throughput --seconds 20 --members 2
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/python benchmarks/ingest.py freshness --bikes 10000 --seconds 180
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/dashboard.py --active 5000 --runs 60
	$(BIN)/python benchmarks/compress.py day
	$(BIN)/python benchmarks/report.py --runs 3
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/python benchmarks/compress.py beside
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/soak.py --minutes 60
	$(BIN)/python -m benchmarks.table

clean:
	rm -rf $(VENV) .venv-checkov .venv-aws .venv-lock .pytest_cache .mypy_cache .ruff_cache
