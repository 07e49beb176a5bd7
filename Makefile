# egressd: the two commands a user needs are `make run` and `make test`.
PRESET ?= dev
BUILD_DIR := build/$(PRESET)
PYTEST := /usr/bin/python3 -m pytest

.PHONY: all deps build run test unit-test integration-test test-asan format tidy clean

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

test: unit-test integration-test

# The same suites against an AddressSanitizer + UndefinedBehaviorSanitizer build.
test-asan:
	@$(MAKE) --no-print-directory PRESET=asan test

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

tidy: build
	@clang-tidy -p $(BUILD_DIR) --quiet $$(git ls-files 'src/*.cpp' 'apps/*.cpp')

clean:
	rm -rf build
