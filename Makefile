# addfdlab's front door. Each target installs the Debian packages it needs when they are
# missing, then configures, builds and runs through the CMake presets.
.PHONY: all deps build test test-vm test-vm-debug test-asan test-tsan test-report fuzz fuzz-smoke bench seeds format clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev

# The whole test suite (unit, kernel, cli).
test: deps
	cmake --workflow --preset ci

# The VM smoke (CTest label vm, docs/vm.md): addfdlab in QEMU guests on a Debian 6.1 cloud
# kernel, fetched into ~/.cache/addfdlab/vm the first time (under a minute here).
test-vm: build
	@scripts/deps.sh vm
	ctest --preset vm

# The debug kernel's smoke (CTest label vm-debug, docs/vm.md): builds the debug kernel into
# ~/.cache/addfdlab/vm the first time (minutes, under nice -n 19), then boots it.
test-vm-debug: build
	@scripts/deps.sh vm debug-kernel
	ctest --preset vm-debug

# The suite under a sanitizer preset: asan (clang-19 ASan+UBSan) or tsan (ThreadSanitizer),
# every label by default; LABELS narrows it (CI: make test-asan LABELS='unit|cli|kernel').
LABELS ?= .
test-asan test-tsan: test-%: deps
	@scripts/deps.sh build fuzz
	cmake --preset $* >/dev/null
	cmake --build --preset $*
	ctest --preset $* -L '$(LABELS)'

# The main job: a fuzzing campaign with the defaults (./addfdlab fuzz --help).
fuzz: build
	@scripts/deps.sh build fuzz
	./addfdlab fuzz $(FUZZ_ARGS)

# CI's bounded campaign: every target briefly (about a minute in all), in a throwaway
# folder. Fails when a target does not run, or on a crash of the targets that check our own
# code (model, rollback, parser). A kernel-driving finding (exit 1) is filed and printed but
# does not fail CI: a new kernel deviation or a harness bug is for triage, not a build break.
fuzz-smoke: build
	@scripts/deps.sh build fuzz
	dir=$$(mktemp -d /tmp/addfdlab-smoke-XXXXXX) && trap 'rm -rf "$$dir"' EXIT && \
	for run in addfd_sequence_fuzzer:30 model_fuzzer:10 rollback_fuzzer:10 scenario_text_fuzzer:10; do \
	  target=$${run%%:*}; \
	  ./addfdlab fuzz --target $$target --time $${run##*:} --jobs 1 \
	    --work "$$dir/work" --findings "$$dir/findings"; status=$$?; \
	  if [ $$status -eq 1 ] && [ $$target = addfd_sequence_fuzzer ]; then \
	    cat "$$dir"/findings/*/trace.txt 2>/dev/null; \
	  elif [ $$status -ne 0 ]; then exit $$status; fi; \
	done

# Benchmarks and their HTML report (./addfdlab bench --help): builds the release preset when
# needed, runs every suite into a new report/<time>/ (about 5 minutes; BENCH_ARGS=--quick
# takes under one) and lists every run in report/index.html.
bench: deps
	@scripts/deps.sh build bench
	./addfdlab bench $(BENCH_ARGS)

# The bench report rendered from tests/bench's fixtures and loaded in headless Chromium
# (CTest bench.report_renders; without Chromium `make test` skips it).
test-report: deps
	@scripts/deps.sh build bench
	cmake --preset dev >/dev/null
	cmake --build --preset dev --target addfdlab_cli
	ctest --preset dev -R '^bench[.]report'

# Regenerates the seed corpora (scripts/make_seeds.sh).
seeds: build
	scripts/make_seeds.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
