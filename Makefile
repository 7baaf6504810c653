# cxpulse — the two front-door commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA_LIBS := .cache/kafka-libs
BI_JDBC := .cache/bi-jdbc
UV_VERSION := 0.13.8
export CXPULSE_HOME ?= $(CURDIR)/.cxpulse

.PHONY: setup demo airflow test lint browser postgres unit integration bench lock clean

## setup: .venv with pinned dependencies + the project, the Kafka jars and the DuckDB JDBC driver (idempotent)
setup: $(BIN)/.installed $(KAFKA_LIBS)/.installed $(BI_JDBC)/.installed

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $@

$(KAFKA_LIBS)/.installed: kafka/pom.xml
	mvn -q -B -f kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	    -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS)
	touch $@

# The DuckDB JDBC driver BI tools embed (1.4 LTS): the tests open the published snapshot with it.
$(BI_JDBC)/.installed: bi/pom.xml
	mvn -q -B -f bi/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	    -DoutputDirectory=$(CURDIR)/$(BI_JDBC)
	touch $@

## demo: Kafka, 90 simulated days (~550k events) with an NPS drop on chat, consumer, the Airflow DAGs, results
demo: setup
	$(BIN)/cxpulse demo

## airflow: Airflow 3 for real with the cxpulse DAGs (api-server, scheduler, dag-processor, triggerer); PORT=8080
airflow: setup
	$(BIN)/cxpulse airflow start --port $(or $(PORT),8080)

## test: ruff, then unit and integration tests (the tests start their own broker; the dashboard test a Chromium)
test: setup lint browser postgres
	$(BIN)/pytest -q

## browser: Debian's Chromium and ChromeDriver for the dashboard test (installed once)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null || \
	     (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null))

## postgres: PostgreSQL server binaries (initdb, pg_ctl) for the Airflow-on-Postgres test; none started here
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null || \
	     (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null))

## lint: ruff, then the import contracts of pyproject.toml (imports run one way, config at the bottom)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

unit: setup
	$(BIN)/pytest -q -m "not integration and not e2e"

integration: setup
	$(BIN)/pytest -q -m "integration or e2e"

## bench: benchmarks -> BENCHMARKS.md and bench/results/latest.json (QUICK=1: smaller, under 3 minutes)
bench: setup
	command -v kcat >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

## lock: re-resolve the pinned versions after changing pyproject.toml (versions already pinned are kept;
## constraints-extra.in adds the pins pyproject.toml does not require: pip, setuptools, orjson)
lock:
	$(BIN)/uv pip compile -q --python $(BIN)/python pyproject.toml constraints-extra.in --extra dev \
	    --no-annotate --no-header -o constraints.txt
	sed -i '1i # Exact versions tested together (Python 3.11, Linux x86_64). Regenerate with `make lock`.' constraints.txt

clean:
	-$(BIN)/cxpulse airflow stop
	-$(BIN)/cxpulse broker stop
	rm -rf $(CXPULSE_HOME)
