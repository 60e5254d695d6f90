"""The data of an `addfdlab bench` run folder: samples.json and meta.json loaded, and the
tables computed from them (ratios, harness overhead, scaling). No plotting.

samples.json is Google Benchmark's raw/*.json as `addfdlab bench` reads it
(tools/bench_json.cc, the one reader of that format). Benchmark names follow docs/bench.md:
inject/<method>/<wake>/<placement>, reference/..., scale/<family>/<n>, rollback/<strategy>/<k>.
"""
import html
import json
import math
import os
import statistics
import sys

METHODS = ["addfd_send", "addfd_then_send", "setfd_send_replace", "notif_continue",
           "notif_errno", "scm_rights", "pidfd_getfd"]
WAKES = ["plain", "sync_wakeup"]
# any_cpu: neither side pinned, the only placement where SYNC_WAKE_UP can show its gain.
PLACEMENTS = ["same_cpu", "cross_cpu", "any_cpu"]
SCALES = [("fdtable", "fd-table size (open fds)"), ("setfd_number", "SETFD target fd number"),
          ("queued", "queued notifications"), ("targets", "targets per supervisor")]
OVERHEAD_FLAG = 10.0  # percent of harness overhead over the hand-written loop
# matplotlib's default cycle: plain and sync_wakeup, then the rest.
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
SAMPLES_FORMAT = "addfdlab-bench-samples/1"


class Bench:
    """One benchmark's repetitions (times in microseconds) and counters."""

    def __init__(self, name, run_name, suite):
        self.name = name
        self.run_name = run_name
        self.suite = suite
        self.samples = []
        self.counters = {}
        self.error = ""
        self.median_aggregate = None

    def finish(self):
        values = sorted(self.samples)
        self.n = len(values)
        if values:
            self.median = statistics.median(values)
            self.lo, self.hi = values[0], values[-1]
            if len(values) >= 2:
                q = statistics.quantiles(values, n=4, method="inclusive")
                self.q1, self.q3 = q[0], q[2]
            else:
                self.q1 = self.q3 = values[0]
            mean = statistics.fmean(values)
            self.cv = statistics.stdev(values) / mean * 100 if len(values) > 1 and mean else 0.0
        else:
            self.median = self.median_aggregate
            self.lo = self.hi = self.q1 = self.q3 = self.median
            self.cv = None
        verified = self.counters.get("verified")
        if verified is None:
            self.verified = None
        else:
            self.verified = all(v == 1.0 for v in verified)

    @property
    def usable(self):
        return self.median is not None and not self.error and self.verified is not False


def load_run(run_dir):
    """meta.json and samples.json: (meta, contexts by suite, benches by name, raw files)."""
    meta = {}
    meta_path = os.path.join(run_dir, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    samples_path = os.path.join(run_dir, "samples.json")
    if not os.path.exists(samples_path):
        sys.exit(f"bench_report.py: no samples.json in {run_dir} (addfdlab bench writes it; "
                 f"addfdlab bench --from {run_dir} makes a new run folder with one)")
    with open(samples_path) as f:
        samples = json.load(f)
    if samples.get("format") != SAMPLES_FORMAT:
        sys.exit(f"bench_report.py: {samples_path} is not {SAMPLES_FORMAT}")
    contexts = {s["name"]: s.get("context") or {} for s in samples["suites"]}
    files = [s["file"] for s in samples["suites"]]
    benches = {}
    for b in samples["benchmarks"]:
        bench = benches[b["name"]] = Bench(b["name"], b["run_name"], b["suite"])
        bench.samples = [v for v in b["real_time"] if v is not None]
        bench.counters = b["counters"]
        bench.error = b["error"]
        bench.median_aggregate = b["aggregates"].get("median")
        bench.finish()
    return meta, contexts, benches, files


def numbers(values):
    """A counter's values without the repetitions where it was null or NaN."""
    return [v for v in values if v is not None]


def fmt_us(value):
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:.3g} ms" if value < 1e6 else f"{value / 1e6:.3g} s"
    if value < 1:
        return f"{value * 1000:.3g} ns"
    return f"{value:.3g} µs"


class Ratio:
    """A ratio of medians, or the reason it cannot be computed."""

    def __init__(self, benches, top, bottom):
        self.top, self.bottom = top, bottom
        self.value = None
        self.reason = None
        for name in (top, bottom):
            bench = benches.get(name)
            if bench is None:
                self.reason = f"not run: {name}"
                return
            if bench.error:
                self.reason = f"failed: {name}"
                return
            if bench.verified is False:
                self.reason = f"self-check failed: {name}"
                return
            if bench.median is None:
                self.reason = f"no time: {name}"
                return
        if benches[bottom].median == 0:
            self.reason = f"zero time: {bottom}"
            return
        self.value = benches[top].median / benches[bottom].median

    def text(self):
        return f"×{self.value:.2f}" if self.value is not None else "n/a"

    def html(self):
        if self.value is None:
            return f'<td class="na">{html.escape(self.reason)}</td>'
        title = html.escape(f"{self.top} ÷ {self.bottom}")
        return f'<td title="{title}">×{self.value:.2f}</td>'


def ratio_tables(benches):
    """The ratios that matter, as (title, note, column names, rows of (label, [Ratio]))."""
    combos = [(w, p) for w in WAKES for p in PLACEMENTS]
    cols = [f"{w} · {p}" for w, p in combos]
    inj = "inject/{}/{}/{}".format
    tables = []
    rows = []
    for label, top, bottom in (
            ("ADDFD|SEND ÷ bare notification (NOTIF_SEND CONTINUE)", "addfd_send",
             "notif_continue"),
            ("ADDFD|SEND ÷ SCM_RIGHTS", "addfd_send", "scm_rights"),
            ("ADDFD then SEND ÷ ADDFD|SEND", "addfd_then_send", "addfd_send")):
        rows.append((label, [Ratio(benches, inj(top, w, p), inj(bottom, w, p))
                             for w, p in combos]))
    tables.append(("Cost ratios", "median ÷ median; above ×1 the first costs more", cols, rows))
    rows = [(m, [Ratio(benches, inj(m, "plain", p), inj(m, "sync_wakeup", p))
                 for p in PLACEMENTS]) for m in METHODS]
    tables.append(("SYNC_WAKE_UP gain", "plain ÷ sync_wakeup; above ×1 SYNC_WAKE_UP is faster",
                   PLACEMENTS, rows))
    rows = [(m, [Ratio(benches, inj(m, w, "cross_cpu"), inj(m, w, "same_cpu")) for w in WAKES])
            for m in METHODS]
    tables.append(("Cross-CPU cost", "cross_cpu ÷ same_cpu", WAKES, rows))
    return tables


def overhead_rows(benches):
    """inject/X against reference/raw_loop/X: the harness's share of the cost."""
    rows = []
    for name in sorted(benches):
        if not name.startswith("inject/"):
            continue
        ref = "reference/raw_loop/" + name[len("inject/"):]
        r = Ratio(benches, name, ref)
        pct = (r.value - 1) * 100 if r.value is not None else None
        rows.append((name, benches[name], benches.get(ref), pct, r.reason))
    return rows


def scale_points(benches, family):
    points = []
    prefix = f"scale/{family}/"
    for name, bench in benches.items():
        if name.startswith(prefix) and bench.median is not None and not bench.error:
            try:
                points.append((int(name[len(prefix):].split("/")[0]), bench))
            except ValueError:
                pass
    return sorted(points, key=lambda p: p[0])


def scale_rows(benches):
    rows = []
    for family, label in SCALES:
        pts = scale_points(benches, family)
        if len(pts) < 2:
            rows.append((family, label, None, "not run" if not pts else "one point only"))
            continue
        (n0, b0), (n1, b1) = pts[0], pts[-1]
        xs = [math.log2(n) for n, _ in pts if n > 0]
        ys = [b.median for n, b in pts if n > 0]
        slope = None
        if len(xs) >= 2 and max(xs) > min(xs):
            mx, my = statistics.fmean(xs), statistics.fmean(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum(
                (x - mx) ** 2 for x in xs)
        ratio = b1.median / b0.median if b0.median else None
        rows.append((family, label, (n0, n1, b0.median, b1.median, ratio, slope), None))
    return rows


def grows(ratio):
    if ratio is None:
        return "—"
    change = f"{(ratio - 1) * 100:+.1f}%"
    if ratio >= 1.10:
        return f"grows ({change})"
    if ratio <= 1 / 1.10:
        return f"shrinks ({change})"
    return f"flat ({change}, within 10%)"
