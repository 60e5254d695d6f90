#!/usr/bin/python3
"""Renders one `addfdlab bench` run folder as an HTML page with matplotlib SVG plots.

Usage: bench_report.py RUN_DIR [--index OUT_DIR]

RUN_DIR holds meta.json and samples.json, both written by `addfdlab bench`: samples.json
is Google Benchmark's raw/*.json as `addfdlab bench` reads it (tools/bench_json.cc, the one
reader of that format): per benchmark its repetitions' times in microseconds, counters,
aggregates, and each suite's context. Writes RUN_DIR/index.html (from PAGE, one function
per section) and RUN_DIR/plots/*.svg, prints the ratio tables to stdout, and with --index
rewrites OUT_DIR/index.html, the list of every run in OUT_DIR.
Benchmark names follow docs/bench.md: inject/<method>/<wake>/<placement>,
reference/..., scale/<family>/<n>, rollback/<strategy>/<k>.
"""
import argparse
import html
import json
import os
import statistics
import string
import sys

from bench_data import (OVERHEAD_FLAG, fmt_us, grows, load_run, numbers, overhead_rows,
                        ratio_tables, scale_rows)
from bench_plots import plot_latency, plot_rollback, plot_scaling, setup_matplotlib

# ---- page --------------------------------------------------------------------------------

CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1220px; color: #111; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums;
                 white-space: nowrap; }
td.na { color: #777; font-style: italic; font-size: 0.85em; }
tr.flag td, td.flag { background: #fde2e2; }
.warn { background: #fff4cc; border: 1px solid #e0c060; padding: 0.5em 1em; }
.note { color: #555; } img { max-width: 100%; }
code { background: #eee; padding: 0 0.2em; }
"""


def esc(text):
    return html.escape(str(text))


def table(headers, rows, classes=None):
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>"
                                          for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def facts(rows):
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows) + \
        "</table>"


def text_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


PAGE = string.Template("""<!DOCTYPE html><html><head><meta charset='utf-8'><title>$title</title><style>$css</style></head><body>
<h1>$title</h1>
<p><a href="../index.html">all runs</a></p>
$sections
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-plots', ok + '/' + imgs.length);
});
</script></body></html>
""")  # the script is a marker for tests and for people: how many plots loaded


def warnings_section(run):
    """Warnings first: what makes the numbers below untrustworthy."""
    meta, context, benches = run["meta"], run["context"], run["benches"]
    warnings = run["warnings"]
    for suite in meta.get("suites", []):
        if suite.get("status", "ok") != "ok":
            warnings.append(f"suite {suite['name']}: {suite['status']}")
    for bench in benches.values():
        if bench.error:
            warnings.append(f"{bench.name}: {bench.error}")
        elif bench.verified is False:
            warnings.append(f"{bench.name}: self-check failed (verified ≠ 1)")
    if meta.get("interrupted"):
        warnings.append("the run was interrupted: some suites did not run")
    load = context.get("load_avg")
    cpus = context.get("num_cpus") or meta.get("cores")
    if load and cpus and load[0] > 0.5 * cpus:
        warnings.append(f"the machine was busy when the run started (load average {load[0]:.2f} "
                        f"on {cpus} CPUs): timings may be noisy")
    over = [r for r in overhead_rows(benches) if r[3] is not None and r[3] > OVERHEAD_FLAG]
    if over:
        warnings.append(f"{len(over)} benchmark(s) spend more than {OVERHEAD_FLAG:.0f}% over "
                        "their hand-written loop (harness overhead table)")
    if not warnings:
        return []
    return ['<div class="warn"><b>Warnings</b><ul>' +
            "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul></div>"]


def machine_section(run):
    meta, context = run["meta"], run["context"]
    out = ["<h2>Machine and kernel</h2>"]
    probe = meta.get("probe") or {}
    kernel = meta.get("kernel") or context.get("addfdlab_kernel")
    load = context.get("load_avg")
    rows = [
        ("kernel", esc(kernel or "unknown (the JSON does not say)") +
         (f" ({esc(meta['machine'])})" if meta.get("machine") else "")),
        ("CPU", esc(meta.get("cpu_model") or context.get("addfdlab_cpu") or "unknown")),
        ("cores", esc(meta.get("cores") or context.get("num_cpus") or "unknown")),
        ("MHz per CPU", esc(context.get("mhz_per_cpu", "unknown"))),
        ("caches", esc(", ".join(f"L{c['level']} {c['type']} {c['size'] // 1024} KiB"
                                 for c in context.get("caches", [])) or "unknown")),
        ("host", esc(context.get("host_name", "unknown"))),
        ("load average at start", esc(" ".join(f"{v:.2f}" for v in load) if load else "unknown")),
        ("date", esc(meta.get("date") or context.get("date", "unknown"))),
    ]
    out.append(facts(rows))
    if probe.get("features"):
        feats = [(esc(name), "yes" if f.get("available") else "<b>no</b>", esc(f.get("evidence")))
                 for name, f in probe["features"].items()]
        out.append("<details><summary>kernel features (<code>addfdlab probe --json</code>)"
                   "</summary>" + table(["feature", "available", "evidence"], feats) +
                   "</details>")
    elif meta.get("mode") == "from":
        out.append('<p class="note">Made from existing JSON: the kernel features were not '
                   "probed.</p>")
    return out


def run_section(run):
    meta, context, contexts = run["meta"], run["context"], run["contexts"]
    out = ["<h2>Run</h2>"]
    rows = [("command", f"<code>{esc(meta.get('command', 'unknown'))}</code>")]
    if meta.get("mode") == "run":
        rows += [("repetitions", esc(meta.get("repetitions"))),
                 ("min time per repetition", esc(f"{meta.get('min_time')} s")),
                 ("repetitions interleaved at random",
                  "yes" if meta.get("random_interleaving") else "no"),
                 ("filter", esc(meta.get("filter") or "none"))]
    if meta.get("elapsed_seconds") is not None:
        rows.append(("elapsed", esc(f"{meta['elapsed_seconds']:.0f} s")))
    rows.append(("addfdlab commit", esc(meta.get("commit") or "unknown")))
    build_type = context.get("library_build_type", "unknown")
    rows.append(("Google Benchmark library", esc(build_type) + (
        ' <span class="note">(Debian\'s libbenchmark reports "debug"; the measured code is '
        "addfdlab's release build)</span>" if build_type == "debug" else "")))
    out.append(facts(rows))
    suite_rows = []
    for suite in meta.get("suites", []) or [{"name": f[:-5], "json": "raw/" + f}
                                            for f in run["files"]]:
        link = (f'<a href="{esc(suite["json"])}">{esc(suite["json"])}</a>'
                if suite.get("json") else "—")
        secs = suite.get("seconds")
        suite_rows.append((esc(suite["name"]), esc(suite.get("status", "ok")),
                           f'<td class="num">{secs:.1f} s</td>' if secs is not None else "—",
                           link))
    out.append(table(["suite", "status", "time", "raw JSON"], suite_rows))
    # What the suites say about themselves (e.g. addfdlab_not_run: what was left out, why).
    said = [(f"{suite}: {key[len('addfdlab_'):]}", esc(value) if value != "" else "none")
            for suite, ctx in sorted(contexts.items()) for key, value in sorted(ctx.items())
            if key.startswith("addfdlab_") and key not in ("addfdlab_kernel", "addfdlab_cpu")]
    if said:
        out.append(facts(said))
    return out


def plot_section(run, title, plot, name, alt, note, missing):
    """A section that is one plot: its note and image, or what is missing."""
    out = [f"<h2>{title}</h2>"]
    if plot(run["benches"], os.path.join(run["plots_dir"], name)):
        if note:
            out.append(f'<p class="note">{note}</p>')
        out.append(f'<img src="plots/{name}" alt="{alt}">')
    else:
        out.append(f'<p class="note">{missing}</p>')
    return out


def latency_section(run):
    return plot_section(
        run, "Latency by method", plot_latency, "latency.svg", "latency by method",
        "One operation each: the target traps, the supervisor answers with the method, the "
        "target returns. Dots are medians over the repetitions, thick bars the interquartile "
        "range, thin lines min–max; hollow diamonds the hand-written loop "
        "(<code>reference/raw_loop</code>); grey lines the pipe ping-pong and bare syscall "
        "references.",
        "No <code>inject/</code> benchmarks in this run.")


def ratios_section(run):
    """The ratio tables, the harness overhead and the scaling verdicts; also for stdout."""
    benches, summary = run["benches"], run["summary"]
    out = ["<h2>Ratios</h2>"]
    for name, note, cols, rows in ratio_tables(benches):
        out.append(f"<h3>{esc(name)}</h3><p class='note'>{esc(note)}</p>")
        out.append(table([""] + cols, [[f"<b>{esc(label)}</b>"] + [r.html() for r in ratios]
                                       for label, ratios in rows]))
        if all(r.value is None for _, ratios in rows for r in ratios):
            summary.append(f"{name}: not run (no matching inject/ benchmarks)")
        else:
            summary.append(f"{name} ({note}; n/a: not run or failed)\n" + text_table(
                [""] + cols, [[label] + [r.text() for r in ratios] for label, ratios in rows]))

    out.append("<h3>Harness overhead</h3>")
    out.append(f"<p class='note'>inject/X against reference/raw_loop/X, the same operation "
               f"in a minimal hand-written loop; above {OVERHEAD_FLAG:.0f}% is flagged.</p>")
    rows, classes, text_rows = [], [], []
    for name, b, raw, pct, reason in overhead_rows(benches):
        flagged = pct is not None and pct > OVERHEAD_FLAG
        rows.append((esc(name), f'<td class="num">{fmt_us(b.median)}</td>',
                     f'<td class="num">{fmt_us(raw.median if raw else None)}</td>',
                     f'<td class="num">{pct:+.1f}%</td>' if pct is not None else
                     f'<td class="na">{esc(reason)}</td>'))
        classes.append("flag" if flagged else "")
        text_rows.append((name, fmt_us(b.median), fmt_us(raw.median if raw else None),
                          (f"{pct:+.1f}%" + (" > 10%" if flagged else "")) if pct is not None
                          else reason))
    if rows:
        out.append(table(["benchmark", "inject", "raw loop", "overhead"], rows, classes))
        measured = [r for r in text_rows if r[3].endswith("%") or r[3].endswith("> 10%")]
        flagged = [r for r in text_rows if r[3].endswith("> 10%")]
        summary.append(f"Harness overhead (inject over reference/raw_loop): {len(measured)} "
                       f"measured, {len(flagged)} over {OVERHEAD_FLAG:.0f}%" +
                       ("\n" + text_table(["benchmark", "inject", "raw loop", "overhead"],
                                          flagged) if flagged else ""))
    else:
        out.append("<p class='na'>not run: no inject/ benchmarks</p>")
        summary.append("Harness overhead: not run (no inject/ benchmarks)")

    out.append("<h3>Does injection cost grow with the fd table?</h3>")
    rows, text_rows = [], []
    for family, label, data, reason in scale_rows(benches):
        if data is None:
            rows.append((f"scale/{family}", esc(label), f'<td class="na">{reason}</td>', "", "",
                         ""))
            text_rows.append((f"scale/{family}", reason, "", ""))
            continue
        n0, n1, t0, t1, ratio, slope = data
        slope_text = f"{slope:+.3g} µs per doubling" if slope is not None else "—"
        rows.append((f"scale/{family}", esc(label), f'<td class="num">{n0} → {n1}</td>',
                     f'<td class="num">{fmt_us(t0)} → {fmt_us(t1)}</td>', esc(grows(ratio)),
                     f'<td class="num">{esc(slope_text)}</td>'))
        text_rows.append((f"scale/{family}", f"{n0} -> {n1}: {fmt_us(t0)} -> {fmt_us(t1)}",
                          grows(ratio), slope_text))
    out.append(table(["benchmark", "axis", "range", "median", "largest ÷ smallest",
                      "slope (least squares on log₂ n)"], rows))
    if all(not r[2] for r in text_rows):
        summary.append("Scaling: not run (no scale/ benchmarks)")
    else:
        summary.append("Scaling (largest / smallest)\n" + text_table(
            ["benchmark", "range", "verdict", "slope"], text_rows))
    return out


def scaling_section(run):
    return plot_section(run, "Scaling", plot_scaling, "scaling.svg", "scaling curves", None,
                        "No <code>scale/</code> benchmarks in this run.")


def rollback_section(run):
    return plot_section(
        run, "Rollback", plot_rollback, "rollback.svg", "rollback cost and residue",
        "After a failure part-way through injecting k fds, each strategy undoes what it did; "
        "the fd-table oracle counts the fds left behind (<code>leaked</code>) and those closed "
        "under the target (<code>dangling</code>).",
        "No rollback benchmarks were run (<code>rollback/&lt;strategy&gt;/&lt;k&gt;</code>).")


def every_benchmark_section(run):
    benches = run["benches"]
    out = ["<h2>Every benchmark</h2>"]
    rows, classes = [], []
    for name in sorted(benches):
        b = benches[name]
        counters = ", ".join(f"{k}={statistics.median(numbers(v)):g}"
                             for k, v in sorted(b.counters.items())
                             if k != "verified" and numbers(v))
        verified = {None: "—", True: "yes", False: "<b>no</b>"}[b.verified]
        rows.append((esc(name), esc(b.suite), f'<td class="num">{fmt_us(b.median)}</td>',
                     f'<td class="num">{fmt_us(b.q1)} – {fmt_us(b.q3)}</td>',
                     f'<td class="num">{fmt_us(b.lo)} – {fmt_us(b.hi)}</td>',
                     f'<td class="num">{b.n}</td>',
                     f'<td class="num">{b.cv:.1f}%</td>' if b.cv is not None else "—",
                     verified, esc(b.error or counters)))
        classes.append("flag" if b.error or b.verified is False else "")
    out.append(table(["benchmark", "suite", "median", "IQR", "min – max", "reps", "cv",
                      "verified", "counters / error"], rows, classes))
    return out


SECTIONS = [warnings_section, machine_section, run_section, latency_section, ratios_section,
            scaling_section, rollback_section, every_benchmark_section]


def render(run_dir):
    meta, contexts, benches, files = load_run(run_dir)
    if not benches:
        sys.exit(f"bench_report.py: no benchmarks in {run_dir}/samples.json")
    setup_matplotlib()
    plots_dir = os.path.join(run_dir, "plots")
    os.makedirs(plots_dir, exist_ok=True)
    context = next(iter(contexts.values()), {})
    run = {"meta": meta, "contexts": contexts, "context": context, "benches": benches,
           "files": files, "plots_dir": plots_dir, "summary": [], "warnings": []}
    title = f"addfdlab bench — {meta.get('date') or context.get('date', '')}"
    sections = [chunk for section in SECTIONS for chunk in section(run)]
    write_atomic(os.path.join(run_dir, "index.html"),
                 PAGE.substitute(title=esc(title), css=CSS, sections="\n".join(sections)))
    print("\n\n".join(run["summary"]))
    return meta, benches, run["warnings"]


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def render_index(out_dir):
    """OUT_DIR/index.html: every run folder in OUT_DIR, newest first."""
    runs = []
    for name in sorted(os.listdir(out_dir), reverse=True):
        meta_path = os.path.join(out_dir, name, "meta.json")
        if not os.path.exists(os.path.join(out_dir, name, "index.html")):
            continue
        meta = {}
        if os.path.exists(meta_path):
            try:
                with open(meta_path) as f:
                    meta = json.load(f)
            except (OSError, ValueError):
                meta = {}
        suites = meta.get("suites", [])
        problems = [s["name"] for s in suites if s.get("status", "ok") != "ok"]
        kind = "from JSON" if meta.get("mode") == "from" else (
            "quick" if meta.get("quick") else "full")
        runs.append((f'<a href="{esc(name)}/index.html">{esc(name)}</a>',
                     esc(meta.get("date", "")), esc(meta.get("kernel") or "unknown"), esc(kind),
                     esc(", ".join(s["name"] for s in suites)),
                     esc("problems: " + ", ".join(problems) if problems else "ok")))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>addfdlab bench runs"
            f"</title><style>{CSS}</style></head><body><h1>addfdlab bench runs</h1>"
            "<p class='note'>Each <code>addfdlab bench</code> writes a new folder here; "
            "compare two with <code>addfdlab bench --compare A B</code>.</p>" +
            table(["run", "date", "kernel", "kind", "suites", "status"], runs) +
            "</body></html>\n")
    write_atomic(os.path.join(out_dir, "index.html"), page)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--index", metavar="OUT_DIR", help="also rewrite OUT_DIR/index.html")
    args = parser.parse_args()
    render(args.run_dir)
    if args.index:
        render_index(args.index)


if __name__ == "__main__":
    main()
