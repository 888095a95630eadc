"""The study's two pages, self-contained (inline CSS and JS, nothing from the internet).

The participant page shows the ground truth on top and the two rollouts below, left and right; the
three videos loop in sync (the ground truth is the clock). Votes: buttons, or the keys ← / 1 (left),
→ / 2 (right), space / 0 (can't tell). The layout is a grid that stacks the two rollouts at phone width.
"""

from __future__ import annotations

from html import escape

from persistworld.study.stats import Preference

_STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0.75rem; color: #222; }
h1 { font-size: 1.25rem; margin: 0.25rem 0; } h2 { font-size: 1rem; margin: 0.25rem 0; }
video { width: 100%; background: #000; border-radius: 4px; display: block; }
.truth { max-width: 900px; margin: 0 auto 0.75rem; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.75rem; }
.candidate { border: 2px solid #ddd; border-radius: 6px; padding: 0.5rem; }
button { font-size: 1rem; padding: 0.6rem 1rem; margin-top: 0.5rem; width: 100%; cursor: pointer;
         border-radius: 6px; border: 1px solid #888; background: #f4f4f4; }
button:hover { background: #e6eefc; } button:disabled { opacity: 0.5; }
.tie { max-width: 420px; margin: 0.75rem auto; display: block; }
.meta { color: #555; font-size: 0.9rem; } kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 0.3rem; }
#done { text-align: center; font-size: 1.2rem; margin: 3rem 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; } th { background: #f5f5f5; }
td.name, th.name { text-align: left; } .scroll { overflow-x: auto; max-width: 100%; }
@media (max-width: 700px) { .pair { grid-template-columns: 1fr; } body { padding: 0.4rem; } }
"""

_PARTICIPANT_SCRIPT = """
const $ = (id) => document.getElementById(id);
const videos = () => [$("truth"), $("left"), $("right")];
let trial = null, busy = false;

function syncLoop() {  // the ground truth is the clock; the rollouts follow it and restart with it
  const [truth, left, right] = videos();
  truth.onended = () => { for (const v of videos()) { v.currentTime = 0; v.play().catch(() => {}); } };
  truth.ontimeupdate = () => {
    for (const v of [left, right]) {
      if (Math.abs(v.currentTime - truth.currentTime) > 0.15) v.currentTime = truth.currentTime;
    }
  };
}

async function load(src) {
  let ready = 0;
  for (const [v, name] of [[$("truth"), src.truth], [$("left"), src.left], [$("right"), src.right]]) {
    v.src = "media/" + name;
    v.oncanplay = () => { v.oncanplay = null; if (++ready === 3) for (const w of videos()) w.play().catch(() => {}); };
  }
}

async function next() {
  const response = await fetch("api/next", {credentials: "same-origin", cache: "no-store"});
  if (!response.ok) { $("status").textContent = "error " + response.status; return; }
  const data = await response.json();
  $("progress").textContent = `${data.progress.voted} of ${data.progress.total} done`;
  if (data.done) { $("trial").hidden = true; $("done").hidden = false; trial = null; return; }
  trial = data.trial;
  await load(trial);
  for (const b of document.querySelectorAll("button")) b.disabled = false;
}

async function vote(choice) {
  if (!trial || busy) return;
  busy = true;
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  const response = await fetch("api/vote", {
    method: "POST", credentials: "same-origin", headers: {"content-type": "application/json"},
    body: JSON.stringify({trial: trial.id, choice}),
  });
  busy = false;
  $("status").textContent = response.ok ? "" : "vote not recorded (" + response.status + ")";
  await next();
}

document.addEventListener("keydown", (event) => {
  const choice = {ArrowLeft: "left", "1": "left", ArrowRight: "right", "2": "right", " ": "tie", "0": "tie"}[event.key];
  if (choice) { event.preventDefault(); vote(choice); }
});
$("vote-left").onclick = () => vote("left");
$("vote-right").onclick = () => vote("right");
$("vote-tie").onclick = () => vote("tie");
syncLoop();
next();
"""


def participant_page(title: str) -> str:
    """The voting page (all data comes from the JSON API)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p class="meta"><span id="progress"></span> · keys: <kbd>←</kbd> left, <kbd>→</kbd> right, <kbd>space</kbd> can't tell
 <span id="status"></span></p>
<div id="trial">
<section class="truth"><h2>Ground truth</h2><video id="truth" muted playsinline preload="auto"></video></section>
<section class="pair">
<div class="candidate"><h2>Left</h2><video id="left" muted playsinline preload="auto"></video>
<button id="vote-left" disabled>Left is more faithful (←)</button></div>
<div class="candidate"><h2>Right</h2><video id="right" muted playsinline preload="auto"></video>
<button id="vote-right" disabled>Right is more faithful (→)</button></div>
</section>
<button id="vote-tie" class="tie" disabled>Can't tell (space)</button>
</div>
<div id="done" hidden>Thank you, you have rated every pair we had for you.</div>
<script>{_PARTICIPANT_SCRIPT}</script></body></html>"""


def _row(label: str, p: Preference) -> str:
    rate = "n/a" if p.rate_b != p.rate_b else f"{p.rate_b:.1%} [{p.ci_low:.1%}, {p.ci_high:.1%}]"
    rate_a = "n/a" if p.rate_b != p.rate_b else f"{1 - p.rate_b:.1%} [{1 - p.ci_high:.1%}, {1 - p.ci_low:.1%}]"
    return (
        f"<tr><td class='name'>{escape(label)}</td><td>{p.votes}</td><td>{p.prefer_a}</td><td>{p.prefer_b}</td>"
        f"<td>{p.ties}</td><td>{rate_a}</td><td>{rate}</td><td>{p.p_value:.3g}</td></tr>"
    )


def owner_page(title: str, name_a: str, name_b: str, overall: Preference, per_episode: dict[str, Preference],
               export_href: str) -> str:  # fmt: skip
    """Results for the study owner: preference rates with Wilson 95% intervals and binomial p-values."""
    a, b = escape(name_a), escape(name_b)
    header = (
        f"<tr><th class='name'></th><th>votes</th><th>prefer {a}</th><th>prefer {b}</th><th>can't tell</th>"
        f"<th>{a} preferred [95% CI]</th><th>{b} preferred [95% CI]</th><th>binomial p</th></tr>"
    )
    rows = "".join(_row(f"episode {e}", p) for e, p in per_episode.items())
    total = _row("all episodes", overall)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Results: {escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>Results: {a} vs {b}</h1>
<p class="meta">Preference rates among decided votes ("can't tell" excluded), Wilson 95% intervals, exact
two-sided binomial test against 50%. <a id="export" href="{escape(export_href)}">Export all votes (CSV)</a></p>
<h2>Overall</h2><div class="scroll"><table id="overall">{header}{total}</table></div>
<h2>Per episode</h2><div class="scroll"><table id="per-episode">{header}{rows}</table></div>
</body></html>"""
