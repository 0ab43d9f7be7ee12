"""The table (Markdown) and the chart (PNG) of one bench run's results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONFIGS = ("sqlite-1w", "sqlite-2w", "postgresql-2w")
CODE = "code check, fresh code"
WRONG = "code check, wrong code"
BARE = "bare endpoint (/healthz)"
LOGIN = "password login"
FULL = "full login (password + code)"
PEER = "privacyIDEA /validate/check, fresh code"


def _find(report: dict[str, Any], config: str, name: str) -> dict[str, Any] | None:
    for r in report["results"]:
        if r["config"] == config and r["name"] == name:
            return r
    return None


def _startswith(report: dict[str, Any], config: str, prefix: str) -> list[dict[str, Any]]:
    return [r for r in report["results"] if r["config"] == config and r["name"].startswith(prefix)]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def table(report: dict[str, Any]) -> str:
    lines = [
        "| measurement | config | rate /s | p50 ms | p99 ms | ratio | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]

    def row(name: str, config: str, r: dict[str, Any] | None, ratio: str = "", target: str = ""):
        if r is None:
            return
        if "unavailable" in r:
            lines.append(f"| {name} | {config} | not run: {r['unavailable']} | | | | |")
            return
        bad = f" ({r['unexpected']} unexpected)" if r.get("unexpected") else ""
        lines.append(
            f"| {name}{bad} | {config} | {r['rate_per_s']:,.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {ratio} | {target} |"
        )

    argon = {p: _find(report, f"argon2-{p}p", "raw argon2 verify (configured parameters)")
             for p in (1, 2)}
    for config in CONFIGS:
        workers = int(config.split("-")[1][0])
        bare, code = _find(report, config, BARE), _find(report, config, CODE)
        peer = _find(report, config, PEER)
        if code is None:
            continue
        row(BARE, config, bare)
        c = code["rate_per_s"]
        row(CODE + " vs bare", config, code, _ratio(c, bare["rate_per_s"] if bare else 0),
            "≥ 0.40; p99 ≤ 25 ms")
        if peer is not None and "unavailable" not in peer:
            row(PEER, config, peer)
            row(CODE + " vs privacyIDEA", config, code, _ratio(c, peer["rate_per_s"]), "≥ 30")
        else:
            row(PEER, config, peer)
        row(WRONG, config, _find(report, config, WRONG))
        login = _find(report, config, LOGIN)
        a = argon[workers]
        if a is not None:
            lines.append(f"| raw argon2 verify, {workers} process(es) | {config} | "
                         f"{a['rate_per_s']:,.1f} | | | | |")
        if login is not None and a is not None:
            row(LOGIN + " vs raw argon2", config, login,
                _ratio(login["rate_per_s"], a["rate_per_s"]), "≥ 0.90")
        row(FULL, config, _find(report, config, FULL))
        for what in ("code check", "password login"):
            pair = _startswith(report, config, f"scale: {what},")
            if len(pair) == 2:
                small, big = sorted(pair, key=lambda r: int(r["name"].split(", ")[1]
                                                          .split()[0].replace(",", "")))
                row(small["name"], config, small)
                ratio = (f"p50 {_ratio(big['p50_ms'], small['p50_ms'])}, "
                         f"p99 {_ratio(big['p99_ms'], small['p99_ms'])}")
                row(big["name"], config, big, ratio, "≤ 1.25")
        for mem in _startswith(report, config, "memory"):
            rss = ", ".join(f"{v:.0f}" for v in mem["rss_mib_per_worker"].values())
            lines.append(f"| {mem['name']}: RSS MiB per worker | {config} | {rss} | | | | |")
    head = (f"Run {report['stamp']}: {report['cpus']} CPUs, argon2 {report['argon2']}, "
            f"{report['options']['reps']} repetitions of {report['options']['duration']} s, "
            f"{report['options']['connections']} connections, medians; load average at the "
            f"end {report['load_at_end']}; {report['seconds']} s in all.\n\n")
    return head + "\n".join(lines) + "\n"


def chart(report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (make bench installs it)")
        return
    names = [BARE, CODE, WRONG, PEER, LOGIN, FULL]
    # Horizontal bars, one panel above the other: the long measurement names sit on the y
    # axis, each on its own line, where they cannot run into each other.
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 10), sharey=True)
    height = 0.8 / len(CONFIGS)
    ys = list(range(len(names)))
    for k, config in enumerate(CONFIGS):
        rates, p99 = [], []
        for name in names:
            r = _find(report, config, name)
            ok = r is not None and "unavailable" not in r
            rates.append(r["rate_per_s"] if ok else 0)
            p99.append(r["p99_ms"] if ok else 0)
        at = [y + k * height for y in ys]
        ax1.barh(at, rates, height, label=config)
        ax2.barh(at, p99, height, label=config)
    for ax, title in ((ax1, "requests (logins) per second, log scale"),
                      (ax2, "p99 latency, ms, log scale")):
        ax.set_xscale("log")
        ax.set_title(title, fontsize=11)
        ax.set_yticks([y + height * (len(CONFIGS) - 1) / 2 for y in ys])
        ax.set_yticklabels(names, fontsize=9)
        ax.grid(axis="x", which="both", alpha=0.3)
    ax1.invert_yaxis()  # shared by both panels: the first measurement, first config on top
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=len(CONFIGS), fontsize=9)
    fig.suptitle(f"Twofold bench {report['stamp']} (32 connections, medians of "
                 f"{report['options']['reps']})", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # room above the panels for title and legend
    fig.savefig(path, dpi=110)
    plt.close(fig)
