# addfdlab's front door. Each target installs the Debian packages it needs when they are
# missing, then configures, builds and runs through the CMake presets.
.PHONY: all deps build test test-asan bench fuzz vm format clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev

# The whole test suite (unit, kernel, cli).
test: deps
	cmake --workflow --preset ci

test-asan: deps
	@scripts/deps.sh build fuzz
	cmake --preset asan >/dev/null
	cmake --build --preset asan
	ctest --preset asan

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
