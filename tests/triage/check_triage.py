#!/usr/bin/env python3
"""CTest's `cli` checks of `addfdlab triage` on synthetic findings folders.

    check_triage.py ADDFDLAB SOURCE_DIR MODE

MODE: dedup (two folders of one signature, one without repro.scn: minimized, one entry),
classify (a folder of each class), bad_input (a malformed repro.scn and a folder that is
no finding: reported with file:line:col, the others still triaged, exit 2), no_overwrite
(saved files byte for byte the same after two triages, TRIAGE.md replaced, repro.c added
only where it was missing).

The findings need verdicts on any kernel: the test seam ADDFDLAB_MUTATE_CELL makes the model
predict a wrong outcome for ADDFD.SETFD.RLIMIT, so its scenario deviates everywhere.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ADDFDLAB, SOURCE, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
CONTRACT = os.path.join(SOURCE, "corpus", "contract")
MUTATED = "ADDFD.SETFD.RLIMIT"
RLIMIT_SCN = os.path.join(CONTRACT, "addfd_setfd_rlimit.scn")
INTR_SEND_SCN = os.path.join(CONTRACT, "addfd_intr_send.scn")


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def finding(root, name, signature, scn_path, extra=""):
    """A folder as `addfdlab fuzz` files it: repro.scn with its signature on the first line."""
    write(os.path.join(root, name, "repro.scn"),
          f"# {signature}\n# reproduced 5/5 on test\n{extra}" + read(scn_path))
    write(os.path.join(root, name, "trace.txt"), "(trace)\n")


def triage(findings, *args):
    env = dict(os.environ, ADDFDLAB_MUTATE_CELL=MUTATED)
    proc = subprocess.run([ADDFDLAB, "triage", findings, "--runs", "2", "--json", *args],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    print(proc.stderr)
    try:
        doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError as e:
        fail(f"not JSON ({e}): {proc.stdout[:2000]}")
    return proc.returncode, doc, proc.stderr


def entry(doc, signature):
    for e in doc["entries"]:
        if e["signature"] == signature:
            return e
    fail(f"no entry {signature} in {[e['signature'] for e in doc['entries']]}")
    return None


def rlimit_signature():
    """The signature the mutated cell gives here: read from `repro --json`, not assumed."""
    env = dict(os.environ, ADDFDLAB_MUTATE_CELL=MUTATED)
    proc = subprocess.run([ADDFDLAB, "repro", RLIMIT_SCN, "--json"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    verdicts = json.loads(proc.stdout)["verdicts"]
    check(verdicts, "the mutated cell gave no verdict: the test seam is gone")
    return verdicts[0]["signature"]


def digests(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def mode_dedup(root):
    signature = rlimit_signature()
    finding(root, "a", signature, RLIMIT_SCN)
    # The same finding filed again without its minimal reproducer (an interrupted filer):
    # only the original, with an op that does not matter added at the end.
    write(os.path.join(root, "b", "original.scn"), read(RLIMIT_SCN) + "settle\n")
    status, doc, _ = triage(root)
    check(status == 1, f"exit {status}, expected 1 (a new kernel deviation)")
    check(len(doc["entries"]) == 1, f"{len(doc['entries'])} entries, expected 1 (deduplicated)")
    e = entry(doc, signature)
    check(sorted(os.path.basename(f) for f in e["folders"]) == ["a", "b"], e["folders"])
    check(e["class"] == "kernel deviation" and e["cell"] == MUTATED, e)
    check(e["host"]["reproduced"] == 2, f"reproduced {e['host']['reproduced']}/2")
    # b was minimized beside its original: repro.scn names the signature, has fewer ops.
    minimized = os.path.join(root, "b", "repro.scn")
    check(os.path.exists(minimized), "b/repro.scn not written")
    text = read(minimized)
    check(text.startswith(f"# {signature}\n"), text[:200])
    check("minimized by addfdlab triage" in text, text[:300])
    ops = [line for line in text.splitlines() if line and not line.startswith("#")]
    check(len(ops) < len(read(RLIMIT_SCN).splitlines()) + 1, "not smaller than the original")
    md = read(os.path.join(root, "TRIAGE.md"))
    check(f"## `{signature}`" in md and "(1 duplicate)" in md, md)


def mode_classify(root):
    signature = rlimit_signature()
    finding(root, "deviation", signature, RLIMIT_SCN)
    finding(root, "known", "expect:ADDFD.INTR.SEND:id_valid", INTR_SEND_SCN)
    finding(root, "leak", "leaked-fd:-:end", os.path.join(CONTRACT, "addfd_id_unknown.scn"))
    finding(root, "dangling", "dangling-fd:-:end", os.path.join(CONTRACT, "addfd_id_unknown.scn"))
    finding(root, "hang", "hang:-:wait", os.path.join(CONTRACT, "addfd_id_unknown.scn"))
    finding(root, "harness", "harness:-:addfd", os.path.join(CONTRACT, "addfd_id_unknown.scn"))
    write(os.path.join(root, "vm-BUG-x", "console.log"),
          "[    0.000000] Linux version 6.1.0\n"
          "[    4.321000] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
          "[    4.321100] #PF: supervisor read access in kernel mode\n")
    write(os.path.join(root, "vm-BUG-x", "command.txt"), "addfdlab vm run --kernel K -- contract\n")
    write(os.path.join(root, "asan", "crash.log"),
          "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n")
    write(os.path.join(root, "asan", "input.bin"), "x")
    status, doc, _ = triage(root)
    check(status == 1, f"exit {status}, expected 1")
    want = {
        signature: "kernel deviation",
        "expect:ADDFD.INTR.SEND:id_valid": "known bug",
        "leaked-fd:-:end": "leak",
        "dangling-fd:-:end": "dangling",
        "hang:-:wait": "hang",
        "harness:-:addfd": "harness bug",
        "sanitizer:AddressSanitizer:heap-use-after-free": "sanitizer crash",
    }
    for sig, klass in want.items():
        got = entry(doc, sig)["class"]
        check(got == klass, f"{sig}: class {got}, expected {klass}")
    splats = [e for e in doc["entries"] if e["signature"].startswith("splat:BUG:")]
    check(len(splats) == 1 and splats[0]["class"] == "kernel splat", splats)
    known = entry(doc, "expect:ADDFD.INTR.SEND:id_valid")["known"]
    check(known and known["id"] == "addfd-intr-send-stays-replied", known)
    # Kernel deviations (known ones too) get their repro.c; the others do not.
    for sig in (signature, "expect:ADDFD.INTR.SEND:id_valid"):
        e = entry(doc, sig)
        check(e["repro_c"].endswith("repro.c") and os.path.exists(e["repro_c"]), e)
        check(e["repro_c_written_by_triage"], e)
        check("int main" in read(e["repro_c"]), "repro.c is not a program")
    check(entry(doc, "leaked-fd:-:end")["repro_c"] == "", "a leak got a repro.c")
    check(len(doc["bad"]) == 0, doc["bad"])


def mode_bad_input(root):
    signature = rlimit_signature()
    finding(root, "good", signature, RLIMIT_SCN)
    write(os.path.join(root, "bad", "repro.scn"), "# contract:X:addfd\ntarget t\nrecv u\n")
    write(os.path.join(root, "stray", "notes.md"), "not a finding\n")
    status, doc, stderr = triage(root)
    check(status == 2, f"exit {status}, expected 2 (bad input)")
    bad = {os.path.basename(b["folder"]): b["error"] for b in doc["bad"]}
    check(set(bad) == {"bad", "stray"}, bad)
    check(os.path.join("bad", "repro.scn") + ":3:" in bad["bad"], bad["bad"])
    check("not a finding folder" in bad["stray"], bad["stray"])
    check("bad/repro.scn:3:" in stderr, stderr)
    # The good one was triaged all the same.
    check(entry(doc, signature)["host"]["reproduced"] == 2, doc)
    md = read(os.path.join(root, "TRIAGE.md"))
    check("## Not triaged" in md and "bad/repro.scn:3:" in md, md)


def mode_no_overwrite(root):
    signature = rlimit_signature()
    finding(root, "a", signature, RLIMIT_SCN)
    finding(root, "known", "expect:ADDFD.INTR.SEND:id_valid", INTR_SEND_SCN)
    write(os.path.join(root, "known", "repro.c"), "/* the filer's own repro.c */\n")
    write(os.path.join(root, "TRIAGE.md"), "an older triage\n")
    before = digests(root)
    status, doc, _ = triage(root)
    check(status == 1, f"exit {status}")
    after = digests(root)
    for name, digest in before.items():
        if name == "TRIAGE.md":
            continue
        check(after.get(name) == digest, f"{name} changed or vanished")
    check(after["TRIAGE.md"] != before["TRIAGE.md"], "TRIAGE.md not replaced")
    added = sorted(set(after) - set(before))
    check(added == [os.path.join("a", "repro.c")], f"new files {added}")
    check(not entry(doc, "expect:ADDFD.INTR.SEND:id_valid")["repro_c_written_by_triage"], doc)
    # Again: nothing changes but TRIAGE.md, and no temporary file is left.
    second = digests(root)
    triage(root)
    third = digests(root)
    check(set(third) == set(second), f"files differ: {set(third) ^ set(second)}")
    for name in second:
        if name != "TRIAGE.md":
            check(third[name] == second[name], f"{name} changed on the second triage")


def main():
    root = tempfile.mkdtemp(prefix="addfdlab-triage-")
    try:
        {"dedup": mode_dedup, "classify": mode_classify, "bad_input": mode_bad_input,
         "no_overwrite": mode_no_overwrite}[MODE](os.path.join(root, "findings"))
    finally:
        if os.environ.get("KEEP_TRIAGE_FINDINGS"):  # to read what triage wrote
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("ok", MODE)


if __name__ == "__main__":
    main()
