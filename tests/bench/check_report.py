#!/usr/bin/python3
"""The bench report renders in a browser: `addfdlab bench --from` over this folder's
Google Benchmark fixtures, then headless Chromium loads the page.

Usage: check_report.py ADDFDLAB FIXTURE_DIR

Checks that every plot is an SVG that the page loads (a script in the page counts the
loaded images into <body data-plots>), that a screenshot shows the plots' colours, that a
second run gets its own folder and the index lists both, and that a run without rollback
benchmarks says so. Exits 77 (a skip) when Chromium, matplotlib or PIL is not installed:
`make test-report` installs them (scripts/deps.sh bench).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def chromium(*args, profile):
    # Root needs --no-sandbox; a throwaway profile keeps ~/.config untouched.
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def count_near(image, rgb, tolerance=12):
    r0, g0, b0 = rgb
    n = 0
    for r, g, b in image.getdata():
        if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance:
            n += 1
    return n


def main():
    addfdlab, fixtures = sys.argv[1], sys.argv[2]
    if shutil.which("chromium") is None:
        print("SKIP: chromium is not installed (make test-report installs it)")
        return SKIP
    try:
        import matplotlib  # noqa: F401  (bench_report.py needs it)
        from PIL import Image
    except ImportError as e:
        print(f"SKIP: {e.name} is not installed (make test-report installs it)")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="addfdlab-report-")
    try:
        out = os.path.join(tmp, "report")
        files = [os.path.join(fixtures, f + ".json")
                 for f in ("injection_bench", "scale_bench", "pool_bench")]
        run = subprocess.run([addfdlab, "bench", "--from", *files, "--out", out],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            fail(f"addfdlab bench --from exited {run.returncode}\n{run.stdout}{run.stderr}")
        m = re.search(r"^report: (.*)$", run.stdout, re.M)
        if not m:
            fail("no 'report:' line in\n" + run.stdout)
        page = m.group(1)
        run_dir = os.path.dirname(page)
        for plot in ("latency", "scaling", "rollback"):
            path = os.path.join(run_dir, "plots", plot + ".svg")
            if not os.path.exists(path):
                fail(f"{path} is missing")
            with open(path) as f:
                if "<svg" not in f.read(4096):
                    fail(f"{path} is not SVG")
        for raw in ("injection_bench", "scale_bench", "pool_bench"):
            if not os.path.exists(os.path.join(run_dir, "raw", raw + ".json")):
                fail(f"raw/{raw}.json is not kept beside the report")
        # The report renders the samples addfdlab normalized, not Google Benchmark's JSON.
        with open(os.path.join(run_dir, "samples.json")) as f:
            samples = json.load(f)
        if samples.get("format") != "addfdlab-bench-samples/1" or samples.get("unit") != "us":
            fail("samples.json is not addfdlab-bench-samples/1 in µs")
        if [s["name"] for s in samples["suites"]] != ["injection_bench", "pool_bench",
                                                      "scale_bench"]:
            fail(f"samples.json has the suites {[s['name'] for s in samples['suites']]}")
        with open(page) as f:
            text = f.read()
        sections = re.findall(r"<h2>([^<]*)</h2>", text)
        if sections != ["Machine and kernel", "Run", "Latency by method", "Ratios", "Scaling",
                        "Rollback", "Every benchmark"]:
            fail(f"the page's sections are {sections}")
        for needed in ("ADDFD|SEND ÷ SCM_RIGHTS", "SYNC_WAKE_UP gain", "Harness overhead",
                       "grows (+", "raw/injection_bench.json", "6.18.44-fc-v669"):
            if needed not in text:
                fail(f"the page lacks {needed!r}")
        if "NaN" in text or "nan" in re.sub(r"<[^>]*>", "", text).split():
            fail("the page shows NaN")

        # A second run never overwrites the first; the index lists both.
        again = subprocess.run([addfdlab, "bench", "--from", files[0], "--out", out],
                               capture_output=True, text=True, timeout=120)
        if again.returncode != 0:
            fail(f"second run exited {again.returncode}\n{again.stdout}{again.stderr}")
        second = re.search(r"^report: (.*)$", again.stdout, re.M).group(1)
        if os.path.dirname(second) == run_dir:
            fail("the second run reused the first run's folder")
        with open(second) as f:
            if "No rollback benchmarks were run" not in f.read():
                fail("a run without rollback/ benchmarks does not say so")
        with open(os.path.join(out, "index.html")) as f:
            index = f.read()
        for d in (run_dir, os.path.dirname(second)):
            if os.path.basename(d) + "/index.html" not in index:
                fail(f"report/index.html does not link {os.path.basename(d)}")

        # In a browser: every image loaded, and the plots' colours are on the screen.
        profile = os.path.join(tmp, "chromium-profile")
        dom = chromium("--dump-dom", "file://" + page, profile=profile)
        m = re.search(r'<body[^>]*data-plots="(\d+)/(\d+)"', dom.stdout)
        if not m:
            fail("the page's script did not run in Chromium\n" + dom.stderr[-2000:])
        if m.group(1) != m.group(2) or m.group(2) != "3":
            fail(f"Chromium loaded {m.group(1)} of {m.group(2)} plots (want 3 of 3)")
        shot = os.path.join(tmp, "page.png")
        chromium(f"--screenshot={shot}", "--window-size=1200,6000", "file://" + page,
                 profile=profile)
        if not os.path.exists(shot):
            fail("Chromium wrote no screenshot")
        image = Image.open(shot).convert("RGB")
        # matplotlib's default colours: plain (blue), sync_wakeup (orange), leaked (red).
        for name, rgb, least in (("blue", (0x1f, 0x77, 0xb4), 2000),
                                 ("orange", (0xff, 0x7f, 0x0e), 250),
                                 ("red", (0xd6, 0x27, 0x28), 200)):
            n = count_near(image, rgb)
            if n < least:
                fail(f"the screenshot has {n} {name} plot pixels (want at least {least})")
        print("report renders: 3/3 plots loaded, plot colours drawn, runs kept apart")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
