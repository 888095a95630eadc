"""The evaluation report: one HTML file that needs nothing outside its folder.

Plots are embedded (base64 PNG), styles are inline, and the videos are referenced by relative paths
inside the output folder (with posters, so the page shows frames even where a browser cannot play
h264). Nothing is loaded from the internet. Every string from the user is escaped.
"""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path

from persistworld.evaluate.videos import EvaluationVideo
from persistworld.metrics.suite import metric_info
from persistworld.utils.atomic import write_text_atomic

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f5f5f5; } td.name, th.name { text-align: left; }
td.best { font-weight: bold; } td.good { background: #e6f4ea; } td.bad { background: #fce8e6; }
img.plot { max-width: 100%; border: 1px solid #eee; }
figure { margin: 1rem 0; } figcaption { font-size: 0.85rem; color: #555; }
video { max-width: 100%; border: 1px solid #ccc; background: #000; }
.note { font-size: 0.85rem; color: #555; }
"""


def _number(value: float, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _interval(stats: dict, digits: int = 4) -> str:
    return f"{_number(stats['mean'], digits)} [{_number(stats['low'], digits)}, {_number(stats['high'], digits)}]"


def _embedded_png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _setup_table(results: dict) -> str:
    rows = [
        ("split", results["split"]),
        ("episodes", f"{len(results['episode_ids'])}: {', '.join(results['episode_ids'])}"),
        ("rollout", f"{results['steps']} steps of {results['frames_per_step']} frames from frame {results['start']}"),
        ("seed", results["seed"]),
        ("sampler", ", ".join(f"{k}={v}" for k, v in results["sampler"].items())),
        *(
            (f"model: {m['name']}", f"{m['checkpoint']} ({m['seconds_per_step']} s per step)")
            for m in results["models"]
        ),
        *((f"metric: {name}", text) for name, text in results["metrics"].items()),
        ("aggregation", results["aggregation"]),
        ("persistworld", results["persistworld_version"]),
    ]
    body = "".join(
        f"<tr><th class='name'>{escape(str(k))}</th><td class='name'>{escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def _summary_table(results: dict, group: str) -> str:
    metrics = list(results["metrics"])
    names = [m["name"] for m in results["models"]] + results["references"]
    best = {}
    for metric in metrics:
        means = {n: results["summary"][n][group][metric]["mean"] for n in names}
        pick = max if metric_info(metric).higher_is_better else min
        best[metric] = pick(means, key=means.get)
    header = "".join(f"<th>{escape(m)} {'↑' if metric_info(m).higher_is_better else '↓'}</th>" for m in metrics)
    rows = []
    for name in names:
        cells = "".join(
            f"<td class='{'best' if best[m] == name else ''}'>{_interval(results['summary'][name][group][m])}</td>"
            for m in metrics
        )
        rows.append(f"<tr><td class='name'>{escape(name)}</td>{cells}</tr>")
    return f"<table><tr><th class='name'>{escape(group)}</th>{header}</tr>{''.join(rows)}</table>"


def _comparison_table(comparison: dict) -> str:
    header = (
        "<tr><th class='name'>group</th><th class='name'>metric</th><th>mean delta [95% CI]</th>"
        "<th>win rate</th><th>wins / losses / ties</th><th>sign test p</th><th>Wilcoxon p</th></tr>"
    )
    rows = []
    for group, metrics in comparison["results"].items():
        for metric, r in metrics.items():
            tone = "good" if r["mean_delta"]["low"] > 0 else "bad" if r["mean_delta"]["high"] < 0 else ""
            rows.append(
                f"<tr><td class='name'>{escape(group)}</td><td class='name'>{escape(metric)}</td>"
                f"<td class='{tone}'>{_interval(r['mean_delta'], 5)}</td><td>{r['win_rate']:.2f}</td>"
                f"<td>{r['wins']} / {r['losses']} / {r['ties']}</td><td>{r['sign_test_p']:.3g}</td>"
                f"<td>{r['wilcoxon_p']:.3g}</td></tr>"
            )
    a, b = escape(comparison["a"]), escape(comparison["b"])
    note = f"delta = {b} - {a}, oriented so that &gt; 0 means {b} is better; green/red: the 95% CI excludes 0."
    return f"<h3>{b} vs {a}</h3><p class='note'>{note}</p><table>{header}{''.join(rows)}</table>"


def write_report(
    results: dict, out: Path, curves: Path, deltas: Path | None, videos: list[EvaluationVideo], tables: dict[str, Path]
) -> Path:
    """Write ``<out>/report.html``; every referenced file lies inside `out`."""
    names = [m["name"] for m in results["models"]]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>persistworld evaluation: {escape(' vs '.join(names))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>persistworld evaluation: {escape(' vs '.join(names))}</h1>",
        "<h2>Setup</h2>",
        _setup_table(results),
        "<h2>Scores (mean over episodes of the per-episode mean over steps, 95% CI)</h2>",
        *(_summary_table(results, group) for group in results["groups"]),
        "<p class='note'>bold: best in the column. The reference <i>copy start frame</i> predicts every frame as the"
        " ground-truth start frame (a world model that never moves).</p>",
    ]
    if results["comparisons"]:
        parts.append("<h2>Paired comparisons (per episode, same episodes and seeds)</h2>")
        parts.extend(_comparison_table(c) for c in results["comparisons"])
    parts.append("<h2>Per-step curves</h2>")
    parts.append(
        f"<figure><img class='plot' alt='per-step curves' src='{_embedded_png(curves)}'>"
        "<figcaption>mean over episodes per rollout step, shaded: 95% CI</figcaption></figure>"
    )
    if deltas is not None:
        parts.append(
            "<h2>Per-episode deltas</h2>"
            f"<figure><img class='plot' alt='delta histograms' src='{_embedded_png(deltas)}'>"
            "<figcaption>histogram of per-episode deltas; dashed: mean</figcaption></figure>"
        )
    if videos:
        parts.append(
            "<h2>Rollouts</h2>"
            f"<p class='note'>rows: ground truth, {escape(', '.join(names))}; columns: the 3 views.</p>"
        )
        for video in videos:
            src, poster = video.video.relative_to(out).as_posix(), video.poster.relative_to(out).as_posix()
            parts.append(
                f"<figure><video controls loop muted autoplay playsinline preload='auto' poster='{escape(poster)}' "
                f"src='{escape(src)}'></video><figcaption>episode {escape(video.episode_id)} "
                f"(<a href='{escape(src)}'>mp4</a>)</figcaption></figure>"
            )
    links = " · ".join(
        f"<a href='{escape(p.relative_to(out).as_posix())}'>{escape(p.name)}</a>" for p in tables.values()
    )
    parts.append(f"<h2>Data</h2><p>{links}</p></body></html>")
    path = out / "report.html"
    write_text_atomic(path, "\n".join(parts))
    return path
