#!/usr/bin/env python3
"""Draws the peer benchmark's PNG from its raw JSON: one bar chart per
headline figure, a bar per system (median) with a min-max whisker and the
ratio to upstream Dramatiq on top.  Runs in bench/.venvs/plot (matplotlib).

    peer_plot.py RESULTS.json OUT.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import peer_report  # noqa: E402  (same directory)

COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e"]


def main(json_path, png_path):
    with open(json_path) as f:
        data = json.load(f)
    s = peer_report.summarize(data["meta"], data["results"])
    systems = s["systems"]
    metrics = peer_report.METRICS
    cols = 5
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.9 * rows))
    for i, (ax, (_w, _k, label, better, _unit)) in enumerate(zip(axes.flat, metrics)):
        names, meds, lo, hi, ratios, colors = [], [], [], [], [], []
        for j, (key, name) in enumerate(systems):
            c = s["cells"][(i, key)]
            names.append(name.replace(" ", "\n", 1).replace("-", "-\n", 1))
            colors.append(COLORS[j % len(COLORS)])
            if "median" in c:
                meds.append(c["median"])
                lo.append(c["median"] - c["min"])
                hi.append(c["max"] - c["median"])
                ratios.append(peer_report.fmt_ratio(c.get("ratio")))
            else:
                meds.append(0)
                lo.append(0)
                hi.append(0)
                ratios.append("n/a")
        x = range(len(names))
        ax.bar(x, meds, color=colors, yerr=[lo, hi], capsize=3)
        positive = [m for m in meds if m > 0]
        log = bool(positive) and max(positive) / min(positive) > 30
        if log:
            ax.set_yscale("log")
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top * (2.0 if log else 1.12))  # headroom for the ratio labels
        # The ratio goes above the whisker, so the two do not overlap.
        for xi, m, h, r in zip(x, meds, hi, ratios):
            ax.annotate(r, (xi, m + h if m > 0 else (min(positive) if positive else 1)), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, fontsize=7)
        ax.set_title("%s\n(%s is better)" % (label, better), fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    meta = data["meta"]
    fig.suptitle("Python task queues on one redis-server (embedded: SQLite), %s, dramatiq-cpp at commit %s (ratios: × Dramatiq "
                 "2.2.1; median, whiskers min–max over %d rounds)" % (meta["date"],
                                                                       (meta.get("ours_start") or {}).get("commit"),
                                                               meta["params"]["rounds"]), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
