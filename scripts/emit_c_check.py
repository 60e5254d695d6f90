#!/usr/bin/env python3
"""Cross-checks a scenario's C reproducer against the executor (CTest: emit_c.*).

    emit_c_check.py ADDFDLAB SCENARIO.scn [--keep DIR]

Writes the scenario's C program (`addfdlab repro --emit-c`), builds it with gcc and, when
present, clang-19 (-Wall -Wextra -Werror), runs each binary and `addfdlab repro --json`, and
fails when their verdicts differ in 3 attempts out of 3: clean (C exit 0) against a run
without verdicts, a deviation (C exit 1) against a run with one, at the same op. Exit 77 (a CTest skip) when the
generator does not support the scenario yet, when the C program skips (exit 4: a missing
feature, or no attempt kept to its schedule) or when the executor's run did not keep to its
schedule.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77


def run(cmd, timeout):
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


def c_verdict(proc):
    """('clean' | 'deviates' | 'skip', op or None, the deviation line)."""
    if proc.returncode == 0:
        return "clean", None, ""
    if proc.returncode == 4:
        return "skip", None, ""
    match = re.search(r"^# DEVIATION op (\d+) .*$", proc.stdout, re.M)
    if proc.returncode == 1 and match:
        return "deviates", int(match.group(1)), match.group(0)
    return "broken (exit %d)" % proc.returncode, None, ""


def executor_verdict(out):
    if not out.get("deterministic", True):
        return "skip", None, ""
    verdicts = out.get("verdicts", [])
    if not verdicts:
        return "clean", None, ""
    first = verdicts[0]
    op = first.get("op", 0)
    return "deviates", op if op > 0 else 0, first.get("text", "")


ATTEMPTS = 3


def compare(args, binaries):
    """One run of the executor and of each binary: 0 agree, 1 disagree, SKIP."""
    proc, took = run([args.addfdlab, "repro", "--json", args.scenario], 300)
    try:
        executor = json.loads(proc.stdout)
    except ValueError:
        print("addfdlab repro --json gave no JSON (exit %d):\n%s" % (proc.returncode,
                                                                   proc.stderr))
        return 1
    want = executor_verdict(executor)
    print("executor: %s%s (%.2f s) %s" % (want[0], " at op %d" % want[1] if want[1] else "",
                                        took, want[2]))
    skipped = want[0] == "skip"
    for cc, binary in binaries:
        proc, took = run([binary], 300)
        got = c_verdict(proc)
        print("C (%s): %s%s (exit %d, %.2f s) %s" % (cc, got[0],
                                                   " at op %d" % got[1] if got[1] else "",
                                                   proc.returncode, took, got[2]))
        if got[0] == "skip" or skipped:
            print(proc.stdout)
            skipped = True
            continue
        if got[0] != want[0] or got[1] != want[1]:
            print("DISAGREE: the C program (%s) says %s%s, the executor says %s%s" %
                  (cc, got[0], " at op %d" % got[1] if got[1] else "", want[0],
                   " at op %d" % want[1] if want[1] else ""))
            print("--- C program's TAP:\n" + proc.stdout + proc.stderr)
            print("--- executor's trace:")
            for op in executor.get("trace", []):
                print("  %s\t%s\t-> %s\t(model: %s %s)" % (
                    op["op"], op["text"], op.get("observed", "-"),
                    " ".join(op.get("allowed", [])), op.get("cell", "")))
            return 1
    if skipped:
        print("SKIP: no verdict to compare (see above)")
        return SKIP
    print("agree: %s" % want[0])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("addfdlab")
    parser.add_argument("scenario")
    parser.add_argument("--keep", help="keep the C file and binaries in this folder")
    args = parser.parse_args()

    work = args.keep or tempfile.mkdtemp(prefix="emit-c-")
    os.makedirs(work, exist_ok=True)
    try:
        source = os.path.join(work, "repro.c")
        proc, _ = run([args.addfdlab, "repro", "--emit-c", args.scenario, "-o", source], 60)
        if proc.returncode != 0:
            if "not supported by the C generator" in proc.stderr:
                print("SKIP: " + proc.stderr.strip())
                return SKIP
            print("emit-c failed:\n" + proc.stderr)
            return 1
        print("%s: %d bytes, %d lines" % (source, os.path.getsize(source),
                                         open(source).read().count("\n")))
        binaries = []
        for cc in ("gcc", "clang-19"):
            if shutil.which(cc) is None:
                print("%s: not installed, not built" % cc)
                continue
            binary = os.path.join(work, "repro-" + cc)
            proc, took = run([cc, "-Wall", "-Wextra", "-Werror", "-O2", "-pthread", source, "-o",
                              binary], 120)
            if proc.returncode != 0:
                print("%s -Wall -Wextra -Werror failed:\n%s" % (cc, proc.stderr))
                return 1
            print("%s: built in %.1f s" % (cc, took))
            binaries.append((cc, binary))

        if not binaries:
            print("SKIP: neither gcc nor clang-19 is installed")
            return SKIP
        # A disagreement counts when it reproduces: under load either side may break its
        # schedule once in a while (as the fuzzer, which traps on a verdict seen 3 times).
        for attempt in range(1, ATTEMPTS + 1):
            outcome = compare(args, binaries)
            if outcome != 1:
                return outcome
            if attempt < ATTEMPTS:
                print("disagreement %d of %d; again" % (attempt, ATTEMPTS))
        print("DISAGREE in all %d attempts: a bug in the executor or in the C runtime" %
              ATTEMPTS)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
