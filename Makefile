# The two commands of the quick start: `make up` and `make test`. Everything they need is
# installed here, so they work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA_LIBS ?= $(HOME)/.cache/deleton/kafka-libs
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: up test install kafka-jars chromium checkov lint unit integration e2e faults soak bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ses]'
	touch $(STAMP)

install: $(STAMP)

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

# checkov, which checks the Terraform, in a virtualenv of its own: it pins old packages.
CHECKOV := .venv-checkov/bin/checkov
checkov: $(CHECKOV)
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --upgrade pip
	.venv-checkov/bin/pip install --quiet 'checkov>=3.2,<4'

up: $(STAMP)
	$(BIN)/deleton up

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

unit: $(STAMP) checkov
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) kafka-jars
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest tests/integration -q

e2e: $(STAMP) chromium
	$(BIN)/pytest tests/e2e -q

# The fault suite alone (it is part of make test too), and a longer soak of it: ten times the
# messages, kills and hostile input.
faults: $(STAMP) kafka-jars chromium
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest tests/faults -q

soak: $(STAMP) kafka-jars chromium
	DELETON_FAULTS_SCALE=10 DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest tests/faults -q \
		-o timeout=3600

test: $(STAMP) kafka-jars chromium checkov
	$(MAKE) lint
	DELETON_KAFKA_LIBS=$(KAFKA_LIBS) $(BIN)/pytest -q

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
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache
