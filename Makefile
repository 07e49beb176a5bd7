# egressd: the two commands a user needs are `make run` and `make test`.
PRESET ?= dev
BUILD_DIR := build/$(PRESET)
PYTEST := /usr/bin/python3 -m pytest

.PHONY: all deps build run test suite unit-test integration-test test-asan format tidy clean

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

integration-test: build
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

clean:
	rm -rf build
