# The workspace's one tool. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --no-sync
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: help deploy-tools asyncapi-parser setup run test test-unit lint fmt docs golden-month ci kafka-fetch clean bench bench-plumbing bench-access bench-ingest bench-incidents bench-sla bench-billing bench-faults bench-notify bench-e2e

# uv itself comes from PyPI into a private venv, so nothing needs installing by hand.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml
	$(UV) sync --locked --all-packages
	@touch $@

## setup: Python deps for every package + the Kafka broker jars (cached under .local/)
setup: .venv/.synced kafka-fetch

kafka-fetch: .venv/.synced
	$(RUN) python -m msp_devstack kafka-fetch

## run: start Kafka + Postgres, migrate, create topics, run the services, play a simulated
## month through them and print its summary; Ctrl-C stops all (ARGS="--no-simulate" etc.)
run: setup
	$(RUN) python -m msp_devstack run $(ARGS)

## deploy-tools: kustomize (built from the Go module proxy), Prometheus and Alertmanager
## (Debian's packages, unpacked, not installed system-wide) into .tools/, for the deploy,
## dashboard and ingest real-client tests; the npm AsyncAPI parser into
## tests/asyncapi/node_modules (from its package-lock.json) when node is installed
KUSTOMIZE_VERSION := v5.5.0
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
KUSTOMIZE := $(TOOLS)/bin/kustomize
PROMETHEUS := $(TOOLS)/prometheus/usr/bin/prometheus
ALERTMANAGER := $(TOOLS)/alertmanager/usr/bin/prometheus-alertmanager
ASYNCAPI_PARSER := tests/asyncapi/node_modules/@asyncapi/parser/package.json
deploy-tools: $(KUSTOMIZE) $(PROMETHEUS) $(ALERTMANAGER) asyncapi-parser

# Without npm there is nothing to install: tests/test_asyncapi_parser.py then skips,
# saying node is missing.
asyncapi-parser:
	@if ! command -v npm >/dev/null; then echo "npm not found: the AsyncAPI parser test will skip"; \
	elif [ ! -f $(ASYNCAPI_PARSER) ] || [ tests/asyncapi/package-lock.json -nt $(ASYNCAPI_PARSER) ]; then \
	  cd tests/asyncapi && npm ci --no-audit --no-fund --loglevel=error; fi

# Fallback when the Go module proxy cannot be reached: kubectl's built-in kustomize.
$(KUSTOMIZE):
	mkdir -p $(TOOLS)/bin
	GOBIN=$(abspath $(TOOLS))/bin GOPATH=$(abspath $(TOOLS))/go GOCACHE=$(abspath $(TOOLS))/go-cache \
	  GOFLAGS="-mod=mod -modcacherw" $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION) \
	|| { command -v kubectl >/dev/null \
	  && printf '#!/bin/sh\n# kubectl kustomize stands in for kustomize build\n[ "$$1" = build ] && shift\nexec kubectl kustomize "$$@"\n' > $@ \
	  && chmod +x $@ && echo "kustomize: the Go build failed; using kubectl kustomize"; }

$(PROMETHEUS):
	rm -rf $(TOOLS)/debs && mkdir -p $(TOOLS)/debs
	cd $(TOOLS)/debs && (apt-get download prometheus || (apt-get update -qq && apt-get download prometheus))
	dpkg-deb -x $(TOOLS)/debs/prometheus_*.deb $(TOOLS)/prometheus
	$(PROMETHEUS) --version | head -1

$(ALERTMANAGER):
	rm -rf $(TOOLS)/debs-alertmanager && mkdir -p $(TOOLS)/debs-alertmanager
	cd $(TOOLS)/debs-alertmanager && (apt-get download prometheus-alertmanager \
	  || (apt-get update -qq && apt-get download prometheus-alertmanager))
	dpkg-deb -x $(TOOLS)/debs-alertmanager/prometheus-alertmanager_*.deb $(TOOLS)/alertmanager
	$(ALERTMANAGER) --version | head -1

## test: the whole suite on a real broker and real Postgres (started by the fixtures)
test: setup deploy-tools
	$(RUN) pytest

test-unit: .venv/.synced
	$(RUN) pytest -m "not integration"

lint: .venv/.synced
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

fmt: .venv/.synced
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

## docs: regenerate the event catalogue (JSON Schemas + AsyncAPI) in docs/events/
docs: .venv/.synced
	$(RUN) python -m msp_events.catalogue docs/events

## golden-month: rewrite tests/e2e/golden/ from this code's simulated month (only when an
## output is MEANT to change; commit it with the change: the .tsv diff is the review)
golden-month: setup
	MSP_GOLDEN_WRITE=1 $(RUN) pytest tests/e2e/test_month_golden.py -q -s

ci: lint test

clean:
	rm -rf .venv .tools .local

## help: every target and what it does (the `## ` lines of this Makefile)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## bench-plumbing: the shared consumer path vs raw aiokafka -> bench/results/plumbing.json
bench-plumbing: setup
	$(RUN) python -m bench.plumbing

## bench-ingest: HTTP single/batch posts and Alertmanager webhooks vs raw aiokafka produce -> bench/results/ingest.json
bench-ingest: setup
	$(RUN) python -m bench.ingest

## bench-access: cost of verifying a caller per request (cached JWKS, API key cache) -> bench/results/access.json
bench-access: setup
	$(RUN) python -m bench.access

## bench-incidents: triage rate vs raw consume, storm noise reduction -> bench/results/incidents.json
bench-incidents: setup
	$(RUN) python -m bench.incidents

## bench-sla: 100k running clocks, breach-emission lag, ticket events/s -> bench/results/sla.json
bench-sla: setup
	$(RUN) python -m bench.sla

## bench-billing: entries/s classified+priced+persisted, 1,000-customer invoice run -> bench/results/billing.json
bench-billing: setup
	$(RUN) python -m bench.billing

## bench-faults: time to recover from each fault of the fault suite under steady load -> bench/results/faults.json
bench-faults: setup
	$(RUN) python -m bench.faults

## bench-notify: breach event -> signed webhook received at 1,000 breaches/min, p50/p99 -> bench/results/notify.json
bench-notify: setup
	$(RUN) python -m bench.notify

## bench-e2e: open-loop Alertmanager webhooks of new alerts at rising rates through the whole
## system, accepted -> triaged lag, sustained alerts/s -> bench/results/e2e.json (ARGS="--quick")
bench-e2e: setup
	$(RUN) python -m bench.e2e $(ARGS)

## bench: every benchmark, one after another (the machine should be otherwise idle)
bench: bench-plumbing bench-ingest bench-access bench-incidents bench-sla bench-billing bench-faults bench-notify bench-e2e
