"""The plots of an `addfdlab bench` run, as matplotlib SVG (stable ids: the same data gives
the same file)."""
import statistics
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("bench_report.py: matplotlib is missing (Debian: python3-matplotlib; "
             "scripts/deps.sh bench installs it)")

from bench_data import COLORS, METHODS, PLACEMENTS, SCALES, WAKES, fmt_us, numbers, scale_points

def setup_matplotlib():
    matplotlib.rcParams.update({
        "svg.hashsalt": "addfdlab",  # stable ids: the same data gives the same file
        "svg.fonttype": "none",
        "font.size": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
    })


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def plot_latency(benches, path):
    methods = [m for m in METHODS if any(f"inject/{m}/{w}/{p}" in benches
                                         for w in WAKES for p in PLACEMENTS)]
    if not methods:
        return False
    fig, axes = plt.subplots(1, len(PLACEMENTS), figsize=(6 * len(PLACEMENTS), 4.6))
    for ax, placement in zip(axes, PLACEMENTS):
        labelled = set()

        def label(text):
            if text in labelled:
                return None
            labelled.add(text)
            return text

        for i, wake in enumerate(WAKES):
            offset = (i - 0.5) * 0.34
            for x, method in enumerate(methods):
                b = benches.get(f"inject/{method}/{wake}/{placement}")
                if b is None or b.median is None:
                    continue
                xx = x + offset
                ax.vlines(xx, b.lo, b.hi, color=COLORS[i], linewidth=1)
                ax.vlines(xx, b.q1, b.q3, color=COLORS[i], linewidth=7, alpha=0.45)
                ax.plot(xx, b.median, "o", color=COLORS[i], markersize=6, label=label(wake))
                raw = benches.get(f"reference/raw_loop/{method}/{wake}/{placement}")
                if raw is not None and raw.median is not None:
                    ax.plot(xx, raw.median, "D", markerfacecolor="none", color=COLORS[i],
                            markersize=6, label=label(f"{wake}: raw loop"))
        refs = [(f"reference/pipe_pingpong/{placement}", "--")]
        if placement == "same_cpu":  # a syscall has no placement; one panel shows it
            refs.append(("reference/syscall", ":"))
        for ref, style in refs:
            b = benches.get(ref)
            if b is not None and b.median is not None:
                ax.axhline(b.median, color="#555555", linestyle=style, linewidth=1,
                           label=f"{ref.split('/')[1]} ({fmt_us(b.median)})")
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=25, ha="right")
        ax.set_title(placement.replace("_", " "))
        # One preempted repetition can be 100x the rest: then a log axis keeps them readable.
        values = [b.lo for b in benches.values() if b.lo and b.name.endswith(placement)] + [
            b.hi for b in benches.values() if b.hi and b.name.endswith(placement)]
        if values and max(values) / min(values) > 30:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="best")
    for ax in axes:
        ax.set_ylabel("µs per operation\n(dot: median, bar: IQR, line: min–max)")
    save(fig, path)
    return True


def plot_scaling(benches, path):
    if not any(scale_points(benches, f) for f, _ in SCALES):
        return False
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    for ax, (family, label) in zip(axes.flat, SCALES):
        pts = scale_points(benches, family)
        ax.set_title(f"scale/{family}")
        ax.set_xlabel(label + " (log scale)")
        ax.set_ylabel("µs (median, band: min–max)")
        if not pts:
            ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center",
                    color="#555555")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        xs = [n for n, _ in pts]
        ax.fill_between(xs, [b.lo for _, b in pts], [b.hi for _, b in pts], color=COLORS[0],
                        alpha=0.2, linewidth=0)
        ax.plot(xs, [b.median for _, b in pts], "o-", color=COLORS[0])
        if min(xs) > 0:
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs)
            ax.set_xticklabels([str(x) for x in xs])
            ax.minorticks_off()
        ax.set_ylim(bottom=0)
    save(fig, path)
    return True


def rollback_data(benches):
    data = {}
    for name, bench in benches.items():
        parts = name.split("/")
        if parts[0] != "rollback" or len(parts) < 3:
            continue
        try:
            k = int(parts[2])
        except ValueError:
            continue
        data.setdefault(parts[1], []).append((k, bench))
    return {s: sorted(v, key=lambda p: p[0]) for s, v in sorted(data.items())}


def plot_rollback(benches, path):
    data = rollback_data(benches)
    if not data:
        return False
    fig, (cost, residue) = plt.subplots(1, 2, figsize=(12, 4.4))
    all_k = sorted({k for pts in data.values() for k, _ in pts})
    medians = []
    for i, (strategy, pts) in enumerate(data.items()):
        color = COLORS[(i + 2) % len(COLORS)]
        # The rollback alone (counter rollback_us) when the suite exports it; a run's real
        # time is mostly the harness around the injection.
        pts_t = []
        for k, b in pts:
            values = [v for v in b.counters.get("rollback_us", []) if v is not None]
            if values:
                pts_t.append((k, statistics.median(values), min(values), max(values)))
            elif b.median is not None:
                pts_t.append((k, b.median, b.lo, b.hi))
        if pts_t:
            xs = [k for k, *_ in pts_t]
            cost.fill_between(xs, [p[2] for p in pts_t], [p[3] for p in pts_t],
                              color=color, alpha=0.15, linewidth=0)
            cost.plot(xs, [p[1] for p in pts_t], "o-", color=color, label=strategy)
            medians += [p[1] for p in pts_t if p[1]]
    if all_k and min(all_k) > 0 and max(all_k) / min(all_k) >= 8:
        cost.set_xscale("log", base=2)
        cost.set_xticks(all_k)
        cost.set_xticklabels([str(k) for k in all_k])
        cost.minorticks_off()
    log_cost = medians and max(medians) / min(medians) > 20
    cost.set_title("rollback cost")
    cost.set_xlabel("fds injected before the failure (k)")
    if log_cost:
        cost.set_yscale("log")
        cost.set_ylabel("µs, log scale (median, band: min–max)")
    else:
        cost.set_ylabel("µs (median, band: min–max)")
        cost.set_ylim(bottom=0)
    cost.legend(fontsize=8)
    # Residue: the largest leaked / dangling count over the repetitions.
    labels = []
    leaked = []
    dangling = []
    for strategy, pts in data.items():
        for k, b in pts:
            labels.append(f"{strategy} k={k}")
            leaked.append(max(numbers(b.counters.get("leaked", [])) or [0.0]))
            dangling.append(max(numbers(b.counters.get("dangling", [])) or [0.0]))
    xs = range(len(labels))
    residue.bar([x - 0.2 for x in xs], leaked, width=0.4, color=COLORS[3], label="leaked")
    residue.bar([x + 0.2 for x in xs], dangling, width=0.4, color=COLORS[4], label="dangling")
    residue.set_xticks(list(xs))
    residue.set_xticklabels(labels, fontsize=8, rotation=35, ha="right")
    residue.set_ylabel("fds left behind (max over repetitions)")
    clean = not any(leaked) and not any(dangling)
    residue.set_title("rollback residue" + (": none in any repetition" if clean else ""))
    residue.set_ylim(bottom=0, top=max([1.0] + leaked + dangling) * 1.15)
    residue.legend(fontsize=8)
    save(fig, path)
    return True
