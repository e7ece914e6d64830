# Convenience front end to the CMake build.
#   make            build (build/)
#   make test       install missing packages, build, run the test suite
#   make demo       install missing packages, build, run the demo pipeline
#   make bench      build and run the benchmarks (reads ../shared/data or $TROVE_DATA)
#   make asan       build and test with AddressSanitizer + UBSan (build-asan/)
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure test demo bench asan clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

test: deps all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: deps all
	scripts/demo.sh $(BUILD)/trove

bench: deps all
	@scripts/install-deps.sh --bench
	scripts/bench.sh $(BUILD)

asan: deps
	$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DTROVE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" test

clean:
	rm -rf build build-asan
