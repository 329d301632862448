"""View models of the Train and Compare pages: what each page shows, computed here and unit-tested; the pages only lay
it out. User text (run labels come from typed expressions) is escaped for Markdown and never becomes HTML.
No Streamlit here."""

from __future__ import annotations

import csv
import io
import json
import math
import re

from rpm_engine.text import first_line
from rpm_service.jobs import CANCELLED, DONE, FAILED, RUNNING, WAITING

from . import charts
from .catalog import Entry, group_key

# -- text ------------------------------------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&])")


def md_escape(text: str) -> str:
    """``text`` shown literally by ``st.markdown``: every Markdown, HTML and Streamlit (``:icon:``, ``:red[..]``)
    special character backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def n_of(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- Train -----------------------------------------------------------------------------------------------------------
STATE_ICON = {
    WAITING: ":material/hourglass_top:",
    RUNNING: ":orange[:material/directions_run:]",
    DONE: ":green[:material/check_circle:]",
    FAILED: ":red[:material/error:]",
    CANCELLED: ":gray[:material/cancel:]",
}
BASELINE_HELP = {
    "supervised": "supervised — the same encoder trained on the true centres (a reference, not a bound)",
    "untrained": "untrained — a random encoder (what the architecture alone gives)",
}


MI_NEGATIVE = -0.05  # nats: below this I_N is explained; above it, -0.0 and rounding noise read as 0.00


def mi_text(mi: float | None) -> str:
    """I_N as a student can read it (``-0.001`` is ``0.00``, never ``-0.00``); a value meaningfully below zero is
    explained (I_N = log N − loss is a lower bound, eq. 23–25: below zero the critic still ranks the true next frame
    below a random one)."""
    if mi is None or mi != mi:
        return ""
    if mi < MI_NEGATIVE:
        return f"I_N {mi:.2f} nats (below 0: the critic still prefers wrong pairs; the bound is loose)"
    return f"I_N {nats(mi)} nats"


def duration(t: float) -> str:
    """Seconds as a visitor reads them: a decimal below 10 s (quick runs take fractions of a second: never "0 s"),
    whole seconds below 2 minutes, else minutes."""
    return f"{t:.1f} s" if t < 10 else f"{t:.0f} s" if t < 120 else f"{t / 60:.0f} min"


def nats(mi: float) -> str:
    """``mi`` to 2 decimals with no negative zero."""
    return f"{mi:.2f}".replace("-0.00", "0.00")


def describe(v, l2: float | None = None) -> str:
    """One line about a job (``rpm_service.jobs.JobView``); ``l2``: the finished run's held-out error, px."""
    device = "GPU" if v.device == "cuda" else "CPU"
    if v.state == WAITING:
        return f"waiting: number {v.position} in the queue" if v.position else "waiting"
    if v.state == RUNNING:
        bits = [f"epoch {v.epoch}/{v.epochs}" if v.epoch else f"first of {v.epochs} epochs under way"]
        if v.loss is not None:
            bits += [f"loss {v.loss:.3f}", mi_text(v.mi)]
        if v.eta_s is not None:
            bits.append(f"about {duration(v.eta_s)} left")
        bits.append(f"on {device}")
        return " · ".join(b for b in bits if b)
    held_out = f" · held-out error **{l2:.2f} px**" if l2 is not None and math.isfinite(l2) else ""
    if v.state == DONE:
        if v.from_store:
            return "opened from the store (trained earlier)" + held_out
        took = f" in {v.elapsed_s:.1f} s" if v.elapsed_s is not None else ""
        loss = f" · final loss {v.loss:.3f}" if v.loss is not None and v.loss == v.loss else ""
        mi = mi_text(v.mi)
        return f"trained{took} on {device}{held_out}{loss}" + (f" · {mi}" if mi else "")
    if v.state == FAILED:
        return f"failed: {md_escape(str(v.error)[:200])}"
    return "cancelled: nothing was stored"


def job_line(v, l2: float | None = None) -> str:
    """The Markdown of a job row: state icon, the run's label (escaped: it may be a typed expression), its state."""
    return f"{STATE_ICON[v.state]} **{md_escape(v.label)}** — {describe(v, l2)}"


def holder(stats: dict | None = None) -> str:
    """Who runs the queue, as a sentence names it: "the class" when the class's job service on Ray does (its stats
    say ``backend: ray``; without stats, ``RPM_RAY_ADDRESS`` is set), else "this server"."""
    if stats is not None:
        return "the class" if stats.get("backend") == "ray" else "this server"
    from rpm_service.service import ray_address

    return "the class" if ray_address() else "this server"


def runner_line(stats: dict) -> str:
    who = ("The class's job service on Ray, shared by every visitor of every server" if holder(stats) == "the class"
           else "Job runner shared by every visitor of this server")  # fmt: skip
    return (
        f"{who}: **{n_of(stats['jobs'], 'training job')} so far**, "
        f"{n_of(stats['trained'], 'run')} trained, {n_of(stats['shared'], 'identical request')} joined a job, "
        f"{n_of(stats['opened'], 'run')} opened from the store · now {stats['running']} running and "
        f"{stats['waiting']} waiting (at most {stats['workers']} at once) · device "
        f"{'GPU' if stats.get('device') == 'cuda' else 'CPU'}"
    )


CANCEL_HELP = (
    "Stops the job unless another visitor is waiting for the same run; then it trains on for them and you just stop "
    "watching."
)


def batch_text(n_items: int, seeds: int) -> str:
    return f"**{n_of(n_items * seeds, 'run')}**: {n_items} × {n_of(seeds, 'seed')}"


REFRESH_STEPS = ((5, 1.0), (15, 2.0))  # (quiet polls below this, interval s); then REFRESH_MAX
REFRESH_MAX = 5.0
REFRESH_LEVELS = (1.0, 2.0, 5.0, 10.0, 20.0)  # the intervals used: a new one costs a whole-page run, so few
REFRESH_BUDGET = 8.0  # job-list refreshes per second for all watching visitors together (~10-20 ms of server each)


def refresh_interval(views, quiet_polls: int, watchers: int = 1) -> float | None:
    """Seconds between refreshes of the job list: None when none of this session's jobs is unfinished; 1 s while
    they change, backing off to 2 s and then 5 s after ``quiet_polls`` refreshes that changed nothing; never less
    than ``watchers / REFRESH_BUDGET`` (``watchers``: visitors waiting for jobs on this server), so the refreshes of
    a whole class cost the server a bounded share of its one interpreter, whatever the class size. Rounded up to
    one of ``REFRESH_LEVELS``."""
    if not any(not v.finished for v in views):
        return None
    want = REFRESH_MAX
    for below, seconds in REFRESH_STEPS:
        if quiet_polls < below:
            want = seconds
            break
    want = max(want, max(1, watchers) / REFRESH_BUDGET)
    return next((s for s in REFRESH_LEVELS if s >= want), REFRESH_LEVELS[-1])


def jobs_signature(views) -> tuple:
    """What counts as progress for the back-off: each job's state and epoch (a queued job moving up the queue is
    shown, but only its start resets the back-off)."""
    return tuple((v.id, v.state, v.epoch) for v in views)


def compare_keys(done, by_key: dict[str, Entry], limit: int = 4) -> list[str]:
    """Runs for "Compare these runs": exactly the runs just trained (``done``), never another: one per configuration
    (its lowest seed; Compare pools the seeds) when there are two or more configurations, else the runs themselves
    (one configuration's seeds side by side); at most ``limit``. Fewer than 2: nothing to compare."""
    keys = list(dict.fromkeys(v.key for v in done))
    chosen, groups = [], set()
    for key in keys:
        entry = by_key.get(key)
        g = group_key(entry.config) if entry is not None else key
        if g not in groups:
            groups.add(g)
            chosen.append(key)
    out = chosen if len(chosen) >= 2 else keys
    return out[:limit] if len(out) >= 2 else []


def pending_text(n: int, share: int, refusal: str | None, who: str = "this server") -> str:
    """The line under the job list while some of a press's runs wait for this visitor's share of the queue (``who``
    runs the queue: ``holder``)."""
    why = f" ({refusal})" if refusal else ""
    return (f"{n_of(n, 'more run')} will start as yours finish: {who} lets each visitor have "
            f"{n_of(share, 'run')} waiting or training at once{why}.")  # fmt: skip


def submit_wave(runner, pending: list, mine: list[str], client: str, share: int) -> tuple[list, list, str | None]:
    """Submit as many of ``pending`` (RunConfigs) as fit in this visitor's share of the queue (``share``: the
    server's ``per_client``) beside its unfinished jobs (``mine``: job ids); runs opened from the store free their
    place at once, so the next ones go in too. Returns (jobs submitted, still pending, a refusal's first line or
    None): a press of Train never asks for more than the share, so ``per_client = 1`` trains a list one by one."""
    submitted: list = []
    while pending:
        active = sum(not v.finished for v in runner.views([*mine, *(j.id for j in submitted)]))
        room = share - active
        if room <= 0:
            break
        try:
            jobs = runner.submit_many(pending[:room], client=client)
        except ValueError as exc:  # the queue is full: what is left waits for the next refresh
            return submitted, pending, first_line(exc)
        submitted += jobs
        pending = pending[room:]
    return submitted, pending, None


def speed_text(entries, video, epochs: int, stats: dict | None = None, last: int = 20) -> str:
    """How long a run of ``epochs`` takes on this server, as measured: the median time per epoch of the last ``last``
    contrastive runs of ``video`` trained here (never the shipped ones, trained elsewhere), times ``epochs``; with
    the runs waiting or training now (``stats``: the runner's), which a new run waits behind."""
    mine = sorted((e for e in entries if e.source == "yours" and e.config.video == video
                   and e.config.train.method == "infonce" and isinstance(e.metrics.get("train_seconds"), (int, float))),
                  key=lambda e: e.mtime)[-last:]  # fmt: skip
    busy = (stats or {}).get("waiting", 0) + (stats or {}).get("running", 0)
    ahead = f"; {n_of(busy, 'run')} waiting or training on it now" if busy else ""
    where = "on the class's Ray cluster" if holder(stats) == "the class" else "on this server"
    if not mine:
        return f"No run of this video has been trained {where} yet, so there is no measured time{ahead}."
    per_epoch = sorted(e.metrics["train_seconds"] / e.config.train.epochs for e in mine)[len(mine) // 2]
    t = per_epoch * epochs
    return f"About {duration(t)} per run of {n_of(epochs, 'epoch')} here (measured over the last {n_of(len(mine), 'run')} of this video {where}{ahead})."


# -- Compare ---------------------------------------------------------------------------------------------------------
def styles(entries: list[Entry]) -> dict[str, tuple[str, str]]:
    """(colour, dash) per run: one colour per coupling; a second run of the same coupling gets a dashed line."""
    out, used = {}, {}
    for e in entries:
        colour = charts.method_colour(e.config)
        out[e.key] = (colour, charts.DASHES[used.get(colour, 0) % len(charts.DASHES)])
        used[colour] = used.get(colour, 0) + 1
    return out


def labels(entries: list[Entry]) -> dict[str, str]:
    """A distinct plain-text label per run ('rbf (theta=0.1) · seed 0 · shipped', with the key when two agree)."""
    out = {}
    for e in entries:
        lab = e.label + (" · shipped" if e.source == "shipped" else "")
        out[e.key] = lab if lab not in out.values() else f"{lab} [{e.key[:6]}]"
    return out


def length_scale_text(metrics: dict, step_px: float) -> str | None:
    """The learned prior's length-scale in true pixels (θ over the read-out's gain; issue 10 §1) against the true
    step, or None when the run has no θ or predates the gain."""
    theta_px = metrics.get("theta_effective_px")
    if not isinstance(theta_px, (int, float)) or not math.isfinite(theta_px):
        return None
    return f"θ ≈ {theta_px:.1f} px in the picture (the ball steps {step_px:g} px)"


def video_name(e: Entry) -> str:
    """'512 frames × 64 px, 3 balls (seed 0)': which video a run was trained on."""
    v = e.config.video
    return f"{v.frames} frames × {v.size} px, {n_of(v.balls, 'ball')} (video seed {v.seed})"


def group_label(e: Entry, n_seeds: int) -> str:
    """A configuration's label for charts that pool its seeds ('linear · shipped'): no single seed in it, so the
    legend's '(5 seeds)' never contradicts it."""
    return e.config.label + (" · shipped" if e.source == "shipped" else "")


def run_summary(e: Entry, metrics: dict, pooled: list[float] | None = None) -> list[tuple[str, str]]:
    """(name, value) rows for one run's card: the video, held-out error (this seed, and over the configuration's
    stored seeds as Home's Fig. 1C shows it: the geometric mean), I_N, learned parameters, the length-scale."""
    rows = [("video", video_name(e))]
    l2 = f"{metrics['l2_mean']:.2f} px"
    if pooled and len(pooled) > 1:
        from rpm_engine.ranking import log_t_interval

        centre, interval = log_t_interval(pooled)
        rows += [("held-out L2, this seed", l2), (f"over {len(pooled)} seeds (geometric mean)",
                 f"{centre:.2f} px [{interval[0]:.2f}, {interval[1]:.2f}]")]  # fmt: skip
    else:
        rows.append(("held-out L2", l2))
    if e.config.train.method == "infonce":
        mi = metrics.get("final_mi")
        if isinstance(mi, (int, float)) and math.isfinite(mi):
            rows.append(("final I_N", f"{nats(mi)} nats"))
        learned = ", ".join(f"{k} = {v:.3g}" for k, v in (metrics.get("coupling_values") or {}).items())
        if learned:
            rows.append(("learned", learned))
        scale = length_scale_text(metrics, e.config.video.step_px)
        if scale:
            rows.append(("length-scale", scale))
    rows.append(("trained", f"{e.config.train.epochs} epochs, seed {e.seed}"))
    return rows


def video_warning(entries: list[Entry]) -> str | None:
    """A warning when the compared runs come from different videos (their errors are not comparable), else None."""
    videos = list(dict.fromkeys(e.config.video for e in entries))
    if len(videos) < 2:
        return None
    names = "; ".join(video_name(next(e for e in entries if e.config.video == v)) for v in videos)
    return (f"These runs come from {len(videos)} different videos ({names}): their errors are measured on different "
            "balls and frames, so compare them with care (each card names its video).")  # fmt: skip


def metrics_csv(rows: list[dict]) -> str:
    """The metrics table as CSV (columns: every key of every row, in first-seen order)."""
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def metrics_json(rows: list[dict], frame: int, ball: int) -> str:
    """The metrics table as strict JSON (no NaN), with the frame and ball shown."""
    return json.dumps({"runs": rows, "frame": int(frame), "ball": int(ball)}, indent=2, allow_nan=False)


def mi_caption(items: list[tuple[str, dict]]) -> str:
    """The learning-curve caption: what I_N is, and the compared runs' own I_N and held-out error (never typed)."""
    text = (
        "I_N = log N − loss is InfoNCE's lower bound on the mutual information between consecutive latents (eq. 23–25 "
        "hold for the infinite-sample objective; a batch's loss is a finite-N bound); it never exceeds log N, and "
        "can be negative while a critic still prefers wrong pairs."
    )
    here = [
        f"{label}: {nats(m['final_mi'])} nats, {m['l2_mean']:.2f} px"
        for label, m in items
        if isinstance(m.get("final_mi"), (int, float)) and math.isfinite(m["final_mi"])
    ]
    return text + (" Here (final I_N, held-out error): " + "; ".join(here) + "." if here else "")


def numerics_caption(run) -> str:
    """A run card's last line (issue 18): how its numbers were computed, or, in orange, why this machine may not
    reproduce them (``provenance.provenance_mismatch``)."""
    from rpm_engine.provenance import provenance_mismatch

    note = provenance_mismatch(run)
    if note is not None:
        return f":orange[{note[0].upper()}{note[1:]}]"
    prov = run.provenance
    path = {"fused": "fused CPU kernels", "stock": "stock PyTorch", "cuda": "CUDA"}.get(prov.get("numerics"), "?")
    return f"Numerics: {path}, torch {prov.get('torch')}; the same as this machine's"
