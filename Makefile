# petrel top-level Makefile: the only entry point a person needs.
# Builds go to build/ (release with debug info) and build-asan/ (ASan+UBSan).

JOBS    ?= $(shell nproc)
BUILD   ?= build
ASAN    ?= build-asan
PYTEST  ?= /usr/bin/python3 -m pytest
# The integration tests that read one-to-one messages back (integration-history).
HISTORY_TESTS = $(addprefix tests/integration/,test_messages.py test_conversations.py \
  test_crash.py test_cli_messages.py test_api.py test_websocket.py)
ARGS    ?=

.PHONY: help deps deps-test build asan run test unit unit-asan integration integration-asan sdk-test bench clean browser-test

help:            ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

deps:            ## install missing Debian build packages (apt-get)
	@scripts/deps.sh build

deps-test:       ## install missing Debian packages the tests need
	@scripts/deps.sh test

build: deps      ## build petreld, petrel, libpetrel, petrel-bench and unit tests into build/
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps       ## the same with AddressSanitizer + UBSan into build-asan/
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPETREL_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

run: build       ## build and start petreld standalone in the foreground (data in ./var/)
	@mkdir -p var
	$(BUILD)/petreld --data-dir=var $(ARGS)

bench: build     ## run every petrel-bench workload on fresh servers (results: build/bench-results.md)
	@scripts/bench-all.sh $(BUILD)

unit: build      ## cmocka unit tests (normal build)
	@cd $(BUILD) && ctest --output-on-failure

unit-asan: asan  ## cmocka unit tests under ASan/UBSan
	@cd $(ASAN) && ctest --output-on-failure

integration: build  ## black-box tests against the real petreld (normal build)
	@PETREL_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/integration $(ARGS)

integration-history: build  ## message tests with history rows written after every commit (store_history_batch=1)
	@PETREL_BUILD=$(abspath $(BUILD)) PETREL_TEST_HISTORY_BATCH=1 $(PYTEST) -q $(HISTORY_TESTS) $(ARGS)

integration-asan: asan  ## the integration tests against the ASan/UBSan petreld
	@PETREL_BUILD=$(abspath $(ASAN)) PETREL_ASAN=1 $(PYTEST) -q tests/integration $(ARGS)

browser-test: build  ## web client in headless chromium against a real petreld (tests/browser)
	@cd tests/browser && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; } && \
	  PETREL_BUILD=$(abspath $(BUILD)) npm test --silent -- $(ARGS)

sdk-test: build    ## JavaScript SDK tests (node --test) against the real petreld
	@PETREL_BUILD=$(abspath $(BUILD)) node --experimental-websocket --test tests/sdk/

test: deps-test  ## install test deps, build both flavours, run every test; non-zero on failure
	@$(MAKE) --no-print-directory unit unit-asan integration integration-history integration-asan \
	  sdk-test browser-test

clean:           ## remove build trees (keeps ./var)
	rm -rf $(BUILD) $(ASAN)
