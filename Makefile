# addfdlab's front door. Each target installs the Debian packages it needs when they are
# missing, then configures, builds and runs through the CMake presets.
.PHONY: all deps build test test-asan test-tsan fuzz seeds format clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev

# The whole test suite (unit, kernel, cli).
test: deps
	cmake --workflow --preset ci

# The suite under clang-19 with AddressSanitizer and UndefinedBehaviorSanitizer: every
# label by default; CI runs the kernel-free labels (ASAN_LABELS='unit|cli'), see README.
ASAN_LABELS ?= .
test-asan: deps
	@scripts/deps.sh build fuzz
	cmake --preset asan >/dev/null
	cmake --build --preset asan
	ctest --preset asan -L '$(ASAN_LABELS)'

# The main job: a fuzzing campaign with the defaults (./addfdlab fuzz --help).
fuzz: build
	@scripts/deps.sh build fuzz
	./addfdlab fuzz $(FUZZ_ARGS)

# The suite under ThreadSanitizer (the supervisor's threads): every label by default.
TSAN_LABELS ?= .
test-tsan: deps
	@scripts/deps.sh build fuzz
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan
	ctest --preset tsan -L '$(TSAN_LABELS)'

# Regenerates corpus/addfd_sequence_fuzzer/ from the contract and regression scenarios.
seeds: build
	scripts/make_seeds.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
