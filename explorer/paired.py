"""The control at the centre: each trained run against its own untrained start (one seed gives one initial encoder,
whatever it is then trained with; ``evaluate.paired_change``). Figures and captions for Home's Fig. 1C and for
Compare; no Streamlit here.

On the shipped runs this is the measured story of Fig. 1C: linear training takes the error *up* from the untrained
start on every seed, RBF takes it *down* — linear destroys position information the architecture already carries,
RBF keeps and refines it.
"""

from __future__ import annotations

import plotly.graph_objects as go

from rpm_engine.evaluate import paired_change

from .catalog import group_key

START = "untrained"
TICKS = [m * 10.0**e for e in range(-2, 4) for m in (1, 2, 5)]  # a log axis read at 1-2-5 steps


def seed_lines(fig: go.Figure, rows: list[dict], through: str) -> None:
    """Join one seed's dots across ``rows`` next to the row labelled ``through`` (Fig. 1C's untrained start): a thin
    grey line per seed from the row before it, through it, to the row after it. Rows carry ``seeds`` beside
    ``per_seed``."""
    labels = [r["label"] for r in rows]
    if through not in labels:
        return
    i = labels.index(through)
    path = rows[max(i - 1, 0) : i + 2]
    by_row = [dict(zip(r.get("seeds", []), r["per_seed"])) for r in path]
    seeds = sorted(set.intersection(*(set(b) for b in by_row))) if by_row else []
    for s in seeds:
        fig.add_scatter(
            x=[r["label"] for r in path],
            y=[b[s] for b in by_row],
            mode="lines",
            line=dict(color="rgba(90,90,90,0.45)", width=1),
            showlegend=False,
            name=f"seed {s}",
            hovertemplate=f"seed {s}: %{{y:.2f}} px<extra></extra>",
        )


def changes(per_seed: dict[str, dict[int, float]], start: str = START) -> dict[str, dict]:
    """``paired_change`` of every method in ``per_seed`` (method -> {seed: L2}) from the ``start`` method's runs."""
    base = per_seed.get(start)
    if not base:
        return {}
    return {m: paired_change(base, v) for m, v in per_seed.items() if m != start and set(v) & set(base)}


def change_text(label: str, c: dict) -> str:
    """'RBF −4.46 px (paired 95 % interval [−7.6, −1.3]; lower on 5 of 5 seeds)'."""
    if c["n"] < 2:
        return f"{label} {c['mean']:+.2f} px (one seed)"
    way = f"lower on {c['lower']} of {c['n']} seeds" if c["mean"] < 0 else f"higher on {c['higher']} of {c['n']} seeds"
    return f"{label} {c['mean']:+.2f} px (paired 95 % interval [{c['lo']:+.2f}, {c['hi']:+.2f}]; {way})"


def verdict(ch: dict[str, dict], destroys: str, keeps: str, labels: dict[str, str] | None = None) -> str:
    """The sentence the runs support, or none: ``destroys`` went up from the start on every seed with its paired
    interval above 0, and ``keeps`` went down on every seed with its interval below 0."""
    d, k = ch.get(destroys), ch.get(keeps)
    if not d or not k or d["n"] < 2 or k["n"] < 2:
        return ""
    name = (labels or {}).get
    if d["higher"] == d["n"] and d["lo"] > 0 and k["lower"] == k["n"] and k["hi"] < 0:
        return (
            f" On every seed, training with the {name(destroys, destroys)} critic lost position information that the "
            f"untrained architecture already carried, and training with {name(keeps, keeps)} kept and refined it."
        )
    return ""


def figure(groups: list[dict], log_y: bool = True, height: int = 360, title: str | None = None) -> go.Figure:
    """Compare's view: each group's seeds as lines from the untrained start (left) to the trained run (right).

    Each group: {label, colour, start: {seed: L2}, trained: {seed: L2}}."""
    fig = go.Figure()
    for g in groups:
        seeds = sorted(set(g["start"]) & set(g["trained"]))
        for j, s in enumerate(seeds):
            fig.add_scatter(
                x=["untrained start", "after training"],
                y=[g["start"][s], g["trained"][s]],
                mode="lines+markers",
                line=dict(color=g["colour"], width=1.5),
                marker=dict(size=7),
                name=g["label"],
                legendgroup=g["label"],
                showlegend=j == 0,
                hovertemplate=f"seed {s}: %{{y:.2f}} px<extra>{_safe(g['label'])}</extra>",
            )
    fig.update_yaxes(
        title_text="held-out mean L2 error (px)",
        gridcolor="#e5e5e5",
        **({"type": "log", "tickvals": TICKS} if log_y else {"type": "linear", "rangemode": "tozero"}),
    )
    fig.update_layout(
        title=dict(text=title or "From the same untrained start, per seed", font=dict(size=15)),
        height=height,
        margin=dict(l=60, r=20, t=50, b=40),
        plot_bgcolor="white",
        legend=dict(orientation="h", y=-0.15),
        font=dict(family="Inter, Helvetica, Arial, sans-serif", size=13),
    )
    return fig


def group_label(e) -> str:
    """A configuration's label, with no seed in it (its seeds are pooled): 'rbf (theta=0.1) · shipped'."""
    return e.config.label + (" · shipped" if e.source == "shipped" else "")


def compare_groups(selected, entries, colours: dict) -> tuple[list[dict], list[str]]:
    """For Compare's runs: each trained group's per-seed L2 beside the untrained runs of the same video and seeds.

    ``selected``: catalog entries; ``entries``: every stored entry; ``colours``: by run key. Returns (groups for
    ``figure``, labels of the groups that have no untrained run to start from)."""
    groups, missing, seen = [], [], set()
    for e in selected:
        if e.method == START or group_key(e.config) in seen:
            continue
        seen.add(group_key(e.config))
        trained = {x.seed: x.metrics["l2_mean"] for x in entries if group_key(x.config) == group_key(e.config)}
        start = {
            x.seed: x.metrics["l2_mean"]
            for x in entries
            if x.method == START
            and x.config.video == e.config.video
            and x.config.train.train_frac == e.config.train.train_frac
            and x.seed in trained
        }
        if start:
            groups.append({"label": group_label(e), "colour": colours[e.key], "start": start, "trained": trained})
        else:
            missing.append(group_label(e))
    return groups, missing


def compare_caption(groups: list[dict], missing: list[str]) -> str:
    """What Compare's paired view shows, with each group's paired change computed from its runs."""
    text = (
        "Each line is one seed: the untrained encoder of that seed (where its training started: same seed, same "
        "initial weights) and the run trained from it. Change from the start: "
    )
    parts = [change_text(g["label"], paired_change(g["start"], g["trained"])) for g in groups]
    text = text + "; ".join(parts) + "." if parts else ""
    if missing:
        text += (
            f" No untrained run of the same video and seeds is stored for {', '.join(missing)}: train the "
            "'untrained' baseline with the same seeds on the Train page to see its change."
        )
    return text.strip()


def _safe(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
