# One entry point for developers and CI.  `make test` installs everything the tests
# need (Debian packages mosquitto, influxdb, chromium, postgresql; the locked Python
# environment) and runs them.
SHELL := /bin/bash
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := mosquitto influxdb chromium postgresql docker-compose
UV := python3 -m uv

.PHONY: help deps deps-system venv test test-fast lint format bench bench-peers fuzz demo clean

help:
	@echo "make test     install system + Python dependencies, run the whole test suite"
	@echo "make lint     ruff + mypy"
	@echo "make demo     run the whole service on embedded defaults"
	@echo "make bench    run the benchmarks in bench/"
	@echo "make bench-peers  lorawan-monitor side by side with Node-RED (needs node + npm)"
	@echo "make fuzz     long system fuzz run of the ingest (FUZZ_EXAMPLES=4500, ~15 min)"

deps: deps-system venv

deps-system:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v influxd >/dev/null || missing="$$missing influxdb"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# docker-compose 1.29 validates docker-compose.yml offline (tests/dashboards/test_compose.py);
	@# --no-install-recommends: it needs no Docker engine for `config`
	@command -v docker-compose >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }

venv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install -q "uv==$(UV_VERSION)"
	$(UV) sync --frozen --all-groups

test: deps
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not integration and not browser"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: deps
	$(PY) bench/decoders.py
	$(PY) bench/e2e_ingest.py --count 60000 --mode live --fast-publisher
	$(PY) bench/e2e_ingest.py --count 60000 --mode live --fast-publisher --workers 2

# Node-RED for the side-by-side bench (#19): npm installs it into bench/.node-red (gitignored),
# only here, never for the tests.
NODE_RED_VERSION := 4.1.15
NODE_RED_INFLUXDB_VERSION := 0.7.0
bench-peers: deps
	@command -v node >/dev/null && command -v npm >/dev/null || \
	  { echo "bench-peers needs node (>= 18) and npm, e.g. apt-get install nodejs npm"; exit 1; }
	@test -f bench/.node-red/node_modules/node-red/red.js || { mkdir -p bench/.node-red && \
	  npm install --prefix bench/.node-red --no-audit --no-fund --loglevel=error \
	    node-red@$(NODE_RED_VERSION) node-red-contrib-influxdb@$(NODE_RED_INFLUXDB_VERSION); }
	$(PY) bench/peers.py --rounds 3
# hostile MQTT messages through mosquitto into ingest with both stores (#11)
fuzz: deps
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-4500} $(PY) -m pytest tests/integration/test_fuzz_ingest.py -x -s -q --timeout 0

demo: venv
	$(VENV)/bin/lorawan-monitor demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data
