#!/usr/bin/env python3
"""Smoke test of the bench suites (CTest label `bench`). Runs every benchmark of addfd_bench
briefly and checks its JSON: it parses with no NaN or Infinity, every name follows the scheme
of docs/bench.md, no run failed, and every run exported verified = 1. A second, filtered run
with repetitions checks the aggregates (mean, median, stddev, cv) the same way, with a
rollback benchmark whose leaked and dangling are 0 in every repetition (Google Benchmark
1.7.1 alone would write NaN for their cv). Then every other suite next to it (the *_bench
binaries `addfdlab bench` runs, such as pool_bench) runs with repetitions, and its JSON must
parse as strictly and hold no failed run.

Every run checks both the JSON on stdout and the raw file --benchmark_out writes (what
`addfdlab bench` keeps in report/<time>/raw/): strict JSON, as json.loads with a
parse_constant that refuses NaN, Infinity and -Infinity.

usage: check_bench_json.py ADDFD_BENCH [extra benchmark flags...]
"""
import json
import os
import re
import subprocess
import sys
import tempfile

SECCOMP = r"(addfd_then_send|addfd_send|setfd_send_replace|notif_continue|notif_errno)"
PLACEMENT = r"(same_cpu|cross_cpu)"
WAKE = r"(plain|sync_wakeup)"
# Target allowed on every CPU: the methods SYNC_WAKE_UP is read on.
ANY_CPU = r"(addfd_send|notif_continue)/(plain|sync_wakeup)/any_cpu"
STRATEGY = r"(naive|send-last|fixed-numbers|restore-on-replace|cooperative)"
NAMES = [
    rf"inject/{SECCOMP}/{WAKE}/{PLACEMENT}",
    rf"inject/{ANY_CPU}",
    rf"inject/(scm_rights|pidfd_getfd)/plain/{PLACEMENT}",
    r"reference/syscall",
    rf"reference/pipe_pingpong/{PLACEMENT}",
    rf"reference/raw_loop/{SECCOMP}/{WAKE}/{PLACEMENT}",
    rf"reference/raw_loop/{ANY_CPU}",
    r"scale/fdtable/(10|100|1000|10000|19000)",
    r"scale/setfd_number/(3|64|1024|8192|19000)",
    r"scale/queued/\d+",
    r"scale/targets/(1|2|4|8|16)",
    rf"rollback/{STRATEGY}/(1|2|4|8)",
]
NAME = re.compile("(" + "|".join(NAMES) + ")")
# What every rollback/ run reports besides verified.
ROLLBACK_COUNTERS = ["rollback_us", "leaked", "dangling"]
# The suites every run must have (the others depend on the kernel and the CPUs).
REQUIRED = ["reference/syscall", "reference/pipe_pingpong/same_cpu",
            "inject/addfd_send/plain/same_cpu", "reference/raw_loop/addfd_send/plain/same_cpu"]


def reject_constant(name):
    raise ValueError(f"non-JSON number {name}")


def strict_json(text, what):
    try:
        return json.loads(text, parse_constant=reject_constant)
    except ValueError as error:
        sys.exit(f"{what}: bad JSON: {error}")


def run(binary, flags):
    """Runs one suite; returns its stdout JSON after checking the raw file is the same JSON."""
    with tempfile.TemporaryDirectory(prefix="addfdlab-bench-") as tmp:
        raw = os.path.join(tmp, os.path.basename(binary) + ".json")
        cmd = [binary, "--benchmark_format=json", f"--benchmark_out={raw}",
               "--benchmark_out_format=json", *flags]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=600)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr}")
        doc = strict_json(proc.stdout, f"{' '.join(cmd)}: stdout")
        try:
            with open(raw, encoding="utf-8") as f:
                raw_doc = strict_json(f.read(), f"{' '.join(cmd)}: raw file")
        except OSError as error:
            sys.exit(f"{' '.join(cmd)}: no raw file: {error}")
    if not raw_doc.get("benchmarks"):
        sys.exit(f"{' '.join(cmd)}: the raw file holds no runs")
    return doc


def other_suites(binary):
    """The other *_bench binaries in addfd_bench's folder, as `addfdlab bench` finds them."""
    folder = os.path.dirname(os.path.abspath(binary))
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith("_bench") and name != os.path.basename(binary)
                  and os.access(os.path.join(folder, name), os.X_OK))


def check_other(doc, what):
    problems = [] if doc.get("benchmarks") else ["no benchmarks"]
    for bench in doc.get("benchmarks", []):
        if bench.get("error_occurred"):
            problems.append(f"{bench['name']}: {bench.get('error_message')}")
    for problem in problems:
        print(f"{what}: {problem}", file=sys.stderr)
    return not problems


def check(doc, what):
    problems = []
    runs = doc.get("benchmarks", [])
    if not runs:
        problems.append("no benchmarks")
    for bench in runs:
        name = bench["name"]
        if bench.get("error_occurred"):
            problems.append(f"{name}: {bench.get('error_message')}")
            continue
        if not NAME.fullmatch(bench["run_name"]):
            problems.append(f"{name}: not a name of docs/bench.md")
        if bench.get("run_type") == "aggregate":
            continue
        if bench.get("verified") != 1:
            problems.append(f"{name}: verified is {bench.get('verified')}, not 1")
        if bench["run_name"].startswith("rollback/"):
            missing = [c for c in ROLLBACK_COUNTERS if not isinstance(bench.get(c), (int, float))]
            if missing:
                problems.append(f"{name}: no counter {', '.join(missing)}")
    for problem in problems:
        print(f"{what}: {problem}", file=sys.stderr)
    return {b["run_name"] for b in runs}, not problems


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary, extra = sys.argv[1], sys.argv[2:]
    names, ok = check(run(binary, ["--benchmark_min_time=0.01", *extra]), "all suites")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        print(f"all suites: missing {missing}", file=sys.stderr)
        ok = False
    _, ok_aggregates = check(
        run(binary, ["--benchmark_min_time=0.005", "--benchmark_repetitions=2",
                     "--benchmark_filter=^(reference/syscall|inject/pidfd_getfd/plain/same_cpu"
                     "|scale/setfd_number/64|rollback/cooperative/2)$", *extra]),
        "aggregates")
    # Three repetitions: a counter that is 0 in each (pool_bench's replaced) gets a cv.
    suites = other_suites(binary)
    ok_others = all([check_other(run(suite, ["--benchmark_min_time=0.01",
                                             "--benchmark_repetitions=3", *extra]),
                                 os.path.basename(suite)) for suite in suites])
    print(f"{len(names)} benchmarks checked, and the suites "
          f"{', '.join(os.path.basename(s) for s in suites) or '(none)'}")
    sys.exit(0 if ok and ok_aggregates and ok_others else 1)


if __name__ == "__main__":
    main()
