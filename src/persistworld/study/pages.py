"""The study's two pages, self-contained (inline CSS and JS, nothing from the internet).

The participant page shows the ground truth on top and the two rollouts below, left and right; the
three videos loop in sync (the ground truth is the clock). Votes: buttons, or the keys ← / 1 (left),
→ / 2 (right), space / 0 (can't tell). The layout is a grid that stacks the two rollouts at phone width.
"""

from __future__ import annotations

from dataclasses import dataclass
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
const buttons = () => document.querySelectorAll("button.vote");
let trial = null, busy = false, playable = 0, opensAt = 0, timer = null;

function setButtons(enabled) { for (const b of buttons()) b.disabled = !enabled; }
function say(text) { $("status").textContent = text; }

function syncLoop() {  // the ground truth is the clock; the rollouts follow it and restart with it
  const [truth, left, right] = videos();
  truth.onended = () => { for (const v of videos()) { v.currentTime = 0; v.play().catch(() => {}); } };
  truth.ontimeupdate = () => {
    for (const v of [left, right]) {
      if (Math.abs(v.currentTime - truth.currentTime) > 0.15) v.currentTime = truth.currentTime;
    }
  };
}

// Voting opens only once all three videos can play and the study's minimum viewing time has passed
// (the server checks the time too, and refuses earlier votes).
function maybeOpen() {
  clearTimeout(timer);
  if (!trial || busy || playable < 3) return;
  const wait = opensAt - Date.now();
  if (wait > 0) {
    $("countdown").textContent = `voting opens in ${Math.ceil(wait / 1000)} s`;
    timer = setTimeout(maybeOpen, Math.min(wait, 1000));
    return;
  }
  $("countdown").textContent = "";
  setButtons(true);
}

function load(current) {
  playable = 0;
  for (const v of videos()) {
    v.oncanplay = () => {
      v.oncanplay = null;
      if (++playable === 3) { for (const w of videos()) w.play().catch(() => {}); maybeOpen(); }
    };
    v.onerror = () => say("a video failed to load; reload the page to try again");
    v.src = "media/" + current[v.id];
  }
}

async function next() {
  setButtons(false);
  let data;
  try {
    const response = await fetch("api/next", {credentials: "same-origin", cache: "no-store"});
    if (!response.ok) throw new Error("error " + response.status);
    data = await response.json();
  } catch (error) {
    say(`could not load the next pair (${error.message}); retrying…`);
    setTimeout(next, 3000);
    return;
  }
  $("progress").textContent = `${data.progress.voted} of ${data.progress.total} done`;
  if (data.done) { $("trial").hidden = true; $("done").hidden = false; trial = null; return; }
  trial = data.trial;
  opensAt = Date.now() + 1000 * trial.wait_seconds;
  load(trial);
  maybeOpen();
}

async function vote(choice) {
  if (!trial || busy || $("vote-" + choice).disabled) return;
  busy = true;
  setButtons(false);
  let response = null;
  try {
    response = await fetch("api/vote", {
      method: "POST", credentials: "same-origin", headers: {"content-type": "application/json"},
      body: JSON.stringify({trial: trial.id, choice}),
    });
  } catch (error) {
    response = null;
  }
  busy = false;
  if (response && (response.ok || response.status === 409)) { say(""); await next(); return; }
  if (response && response.status === 425) {
    const body = await response.json().catch(() => ({retry_after: 1}));
    opensAt = Date.now() + 1000 * body.retry_after;
    say("please watch the videos a little longer");
  } else {
    say(response ? `vote not recorded (error ${response.status}); please try again` :
        "vote not recorded (no connection); please try again");
  }
  maybeOpen();
}

document.addEventListener("keydown", (event) => {
  if (event.repeat) return;  // a held key must not vote through the next trials
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
 <span id="countdown"></span> <span id="status"></span></p>
<div id="trial">
<section class="truth"><h2>Ground truth</h2><video id="truth" muted playsinline preload="auto"></video></section>
<section class="pair">
<div class="candidate"><h2>Left</h2><video id="left" muted playsinline preload="auto"></video>
<button id="vote-left" class="vote" disabled>Left is more faithful (←)</button></div>
<div class="candidate"><h2>Right</h2><video id="right" muted playsinline preload="auto"></video>
<button id="vote-right" class="vote" disabled>Right is more faithful (→)</button></div>
</section>
<button id="vote-tie" class="vote tie" disabled>Can't tell (space)</button>
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


@dataclass(frozen=True)
class ParticipantRow:
    """One participant on the owner page: a keyed hash of their id (never the cookie) and their votes."""

    key: str
    votes: int


def owner_page(
    title: str,
    name_a: str,
    name_b: str,
    overall: Preference,
    per_episode: dict[str, Preference],
    *,
    export_href: str,
    participants: dict,
    participant_rows: list[ParticipantRow],
) -> str:
    """Results for the study owner: preference rates with Wilson 95% intervals and binomial p-values.

    Beside the votes it shows who cast them (admitted participants, invitations, votes per
    participant), so that a study carried by a few very active participants is visible at a glance.
    """
    a, b = escape(name_a), escape(name_b)
    header = (
        f"<tr><th class='name'></th><th>votes</th><th>prefer {a}</th><th>prefer {b}</th><th>can't tell</th>"
        f"<th>{a} preferred [95% CI]</th><th>{b} preferred [95% CI]</th><th>binomial p</th></tr>"
    )
    rows = "".join(_row(f"episode {e}", p) for e, p in per_episode.items())
    total = _row("all episodes", overall)
    admission = "by invitation" if participants["admission"] == "invite" else "open enrolment"
    invites = (
        f", {participants['invites_used']} of {participants['invites_issued']} invitations used"
        if participants["invites_issued"]
        else ""
    )
    who = (
        f"{participants['admitted']} participants admitted ({admission}{invites}), "
        f"{participants['with_votes']} of them voted"
    )
    voters = "".join(
        f"<tr><td class='name'><code>{escape(r.key)}</code></td><td>{r.votes}</td></tr>" for r in participant_rows
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Results: {escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>Results: {a} vs {b}</h1>
<p class="meta">Preference rates among decided votes ("can't tell" excluded), Wilson 95% intervals, exact
two-sided binomial test against 50%. <a id="export" href="{escape(export_href)}">Export all votes (CSV)</a>
(the link is valid for 10 minutes)</p>
<h2>Overall</h2><div class="scroll"><table id="overall">{header}{total}</table></div>
<h2>Per episode</h2><div class="scroll"><table id="per-episode">{header}{rows}</table></div>
<h2>Participants</h2><p class="meta" id="participants">{escape(who)}</p>
<div class="scroll"><table id="per-participant"><tr><th class='name'>participant (keyed hash)</th><th>votes</th></tr>
{voters}</table></div>
</body></html>"""


def message_page(title: str, text: str) -> str:
    """A plain page with one message (an invitation refused, enrolment paused)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{escape(title)}</h1><p id="message">{escape(text)}</p></body></html>"""
