# egressd: the two commands a user needs are `make run` and `make test`.
PRESET ?= dev
BUILD_DIR := build/$(PRESET)
PYTEST := /usr/bin/python3 -m pytest

.PHONY: all deps build browser-deps run test suite unit-test integration-test test-asan fuzz bench format tidy clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET)

# Starts egressd on 127.0.0.1:8100 with the example config and rules folder.
run: build
	@./scripts/run-example.sh $(BUILD_DIR)/egressd

unit-test: build
	@ctest --preset $(PRESET) --output-on-failure

# The browser tests' Node packages (playwright-core, pinned in tests/browser/package-lock.json)
# from the npm registry, installed when node_modules is missing or older than the lock file.
# No browser is downloaded: the tests drive Debian's chromium.
BROWSER_DIR := tests/browser
browser-deps: $(BROWSER_DIR)/node_modules/.installed

$(BROWSER_DIR)/node_modules/.installed: $(BROWSER_DIR)/package-lock.json $(BROWSER_DIR)/package.json | deps
	@PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix $(BROWSER_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

integration-test: build browser-deps
	@EGRESSD_BIN=$(CURDIR)/$(BUILD_DIR)/egressd $(PYTEST) tests/integration

suite: unit-test integration-test

# Every suite twice: on the normal build (warnings are errors) and on an
# AddressSanitizer + UndefinedBehaviorSanitizer build, which catches memory errors
# that the tests alone would not see.
test:
	@$(MAKE) --no-print-directory PRESET=dev suite
	@$(MAKE) --no-print-directory PRESET=asan suite

test-asan:
	@$(MAKE) --no-print-directory PRESET=asan suite

# Runs each libFuzzer target for FUZZ_SECONDS (needs clang and libclang-rt-14-dev).
# New inputs that add coverage can be merged into fuzz/corpus/ with -merge=1.
FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang++ >/dev/null || { echo "make fuzz: needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
	@CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEGRESSD_FUZZ=ON \
	  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -DBOOST_ASIO_HAS_CO_AWAIT=1" \
	  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
	@cmake --build build/fuzz --target host_fuzz request_target_fuzz request_head_fuzz rules_fuzz config_fuzz control_fuzz
	@for t in host request_target request_head rules config control; do \
	  mkdir -p build/fuzz/work/$$t && cp fuzz/corpus/$$t/* build/fuzz/work/$$t/ && \
	  build/fuzz/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=2048 -rss_limit_mb=4096 \
	    build/fuzz/work/$$t fuzz/corpus/$$t || exit 1; \
	done

# The benchmark suite (not part of `make test`): egressd next to tinyproxy and squid, in a
# network namespace, with the proxy pinned to one core. See docs/performance.md.
# BENCH_ARGS=--quick gives a short smoke run.
bench: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release
	@/usr/bin/python3 bench/run --egressd build/release/egressd $(BENCH_ARGS)

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

tidy: build
	@clang-tidy -p $(BUILD_DIR) --quiet $$(git ls-files 'src/*.cpp' 'apps/*.cpp')

# Installs what `build` made (binaries, systemd units, Qubes firewall hook, configs,
# docs); see cmake/install.cmake. Staged install: make install DESTDIR=/tmp/stage
PREFIX ?= /usr
.PHONY: install
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR) --prefix "$(PREFIX)"

# The Debian package of a release build: build/deb/egressd_VERSION_ARCH.deb
# (scripts/build-deb.sh; install it with: apt-get install ./build/deb/egressd_*.deb).
.PHONY: deb
deb:
	@$(MAKE) --no-print-directory PRESET=release build
	@./scripts/build-deb.sh build/release build/deb

# The RPM for Fedora templates, built from the committed source by rpmbuild (where it
# is available): build/rpm/RPMS/ and build/rpm/SRPMS/.
.PHONY: rpm
rpm:
	@./scripts/build-rpm.sh build/rpm

clean:
	rm -rf build
