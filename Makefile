# petrel top-level Makefile: the only entry point a person needs.
# Builds go to build/ (release with debug info) and build-asan/ (ASan+UBSan);
# the libFuzzer targets (clang) to build-fuzz/.

JOBS    ?= $(shell nproc)
BUILD   ?= build
ASAN    ?= build-asan
FUZZ    ?= build-fuzz
# make fuzz: seconds per target, and which targets (fuzz/fuzz_<name>.c)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= codec sign http ws gateway command client
PYTEST  ?= /usr/bin/python3 -m pytest
# The integration tests that read one-to-one messages back (integration-history).
HISTORY_TESTS = $(addprefix tests/integration/,test_messages.py test_conversations.py \
  test_crash.py test_cli_messages.py test_api.py test_websocket.py)
ARGS    ?=

.PHONY: help deps deps-test build asan run test layers unit unit-asan integration integration-pg
.PHONY: integration-both integration-history integration-asan sdk-test bench clean browser-test
.PHONY: deps-fuzz fuzz-build fuzz fuzz-regress fuzz-corpus

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

bench: build     ## run every petrel-bench workload on fresh servers (results: build/bench-results.md; BENCH_STORE=postgres: on PostgreSQL)
	@scripts/bench-all.sh $(BUILD)

layers: build    ## check the layer rules of src/server/ (includes and calls point down; file lengths)
	@python3 scripts/check-layers.py $(BUILD)

unit: build      ## cmocka unit tests (normal build)
	@cd $(BUILD) && ctest --output-on-failure

unit-asan: asan  ## cmocka unit tests under ASan/UBSan
	@cd $(ASAN) && ctest --output-on-failure

integration: build  ## black-box tests against the real petreld (normal build, SQLite store)
	@PETREL_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/integration $(ARGS)

integration-pg: build  ## the same against PostgreSQL (a server of its own: initdb in a temp dir)
	@PETREL_BUILD=$(abspath $(BUILD)) $(PYTEST) -q --backend=postgres tests/integration $(ARGS)

integration-both: build  ## integration and integration-pg at once (two pytest processes)
	@$(MAKE) --no-print-directory -j2 --output-sync=target integration integration-pg

integration-history: build  ## message tests with history rows written after every commit (store_history_batch=1)
	@PETREL_BUILD=$(abspath $(BUILD)) PETREL_TEST_HISTORY_BATCH=1 $(PYTEST) -q $(HISTORY_TESTS) $(ARGS)

integration-asan: asan  ## the integration tests against the ASan/UBSan petreld
	@PETREL_BUILD=$(abspath $(ASAN)) PETREL_ASAN=1 $(PYTEST) -q tests/integration $(ARGS)

browser-test: build  ## web client in headless chromium against a real petreld, and on a 3-node cluster (PostgreSQL+Redis) (tests/browser)
	@cd tests/browser && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; } && \
	  PETREL_BUILD=$(abspath $(BUILD)) npm test --silent -- $(ARGS)

sdk-test: build    ## JavaScript SDK tests (node --test) against the real petreld
	@PETREL_BUILD=$(abspath $(BUILD)) node --experimental-websocket --test tests/sdk/

deps-fuzz:       ## install missing Debian packages the fuzz targets need (clang, libFuzzer)
	@scripts/deps.sh fuzz

fuzz-build: deps-fuzz  ## build the libFuzzer targets (fuzz/, clang, ASan+UBSan) into build-fuzz/
	@cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPETREL_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ) --target fuzz_all -j $(JOBS)

fuzz: fuzz-build  ## fuzz each target FUZZ_SECONDS (60) s, one after the other; crashes: build-fuzz/crashes/
	@mkdir -p $(FUZZ)/crashes
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ)/corpus/$$t; echo "fuzz_$$t: $(FUZZ_SECONDS) s (log: $(FUZZ)/fuzz-$$t.log)"; \
	  dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	  $(FUZZ)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=120 -print_final_stats=1 $$dict \
	    -artifact_prefix=$(abspath $(FUZZ))/crashes/$$t- $(ARGS) $(FUZZ)/corpus/$$t fuzz/corpus/$$t \
	    >$(FUZZ)/fuzz-$$t.log 2>&1 || { tail -n 60 $(FUZZ)/fuzz-$$t.log; exit 1; }; \
	  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units' $(FUZZ)/fuzz-$$t.log | tail -n 2; \
	done

fuzz-regress: fuzz-build  ## every seed in fuzz/corpus/<target>/ once through its target (in make test)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  $(FUZZ)/fuzz_$$t fuzz/corpus/$$t/* >$(FUZZ)/regress-$$t.log 2>&1 || \
	    { tail -n 60 $(FUZZ)/regress-$$t.log; echo "fuzz-regress: fuzz_$$t FAILED"; exit 1; }; \
	  echo "fuzz-regress: fuzz_$$t ok ($$(ls fuzz/corpus/$$t | wc -l) inputs)"; \
	done

fuzz-corpus: fuzz-build  ## rewrite the generated seeds in fuzz/corpus/ (fuzz/gen_corpus.c)
	@$(FUZZ)/fuzz_gen_corpus fuzz/corpus

test: deps-test  ## install test deps, build both flavours, run every test (integration on SQLite and PostgreSQL); non-zero on failure
	@$(MAKE) --no-print-directory layers unit unit-asan fuzz-regress integration-both \
	  integration-history integration-asan sdk-test browser-test

clean:           ## remove build trees (keeps ./var)
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
