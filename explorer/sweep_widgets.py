"""The Explore page's Streamlit pieces for a sweep's results: the leaderboard's filters and table, the verdict and
"open in Compare", the exports, a visible PNG button for a chart, the parallel-coordinates view and the list of
past sweeps, with the sweep's family rows and the menu that reopens one. The numbers come from
``explorer.sweep_view``; this module only draws them."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from rpm_engine.text import first_line

from . import explore as ex
from . import priors, ui
from . import sweep_view as sv

PAST_SWEEPS = 12  # a visitor's past sweeps kept for "reopen"


def png_button(chart_key: str, label: str = "PNG of this chart") -> None:
    """A visible button that downloads the chart keyed ``chart_key`` as a PNG (it presses the chart's own Plotly
    "Download plot as a png", so the file is the one the toolbar gives, named by ``charts.export_config``)."""
    selector = json.dumps(f".st-key-{chart_key} .modebar-btn[data-title='Download plot as a png' i]")
    st.iframe(
        f"""<button id="png" style="font: 14px sans-serif; padding: 5px 12px; border: 1px solid #d0d0d8;
        border-radius: 8px; background: white; cursor: pointer;">⬇ {label}</button>
        <script>document.getElementById("png").onclick = () => {{
          const b = window.parent.document.querySelector({selector}); if (b) b.click(); }};</script>""",
        height=42,
    )


def scroll_to(key: str) -> None:
    """Scroll the page so the element keyed ``key`` is in view (once it is drawn; tried for up to 5 s)."""
    selector = json.dumps(f".st-key-{key}")
    st.iframe(
        f"""<script>let n = 0; const go = () => {{ const e = window.parent.document.querySelector({selector});
        if (e) e.scrollIntoView({{block: "start", behavior: "instant"}}); else if (n++ < 50) setTimeout(go, 100); }};
        go();</script>""",
        height=1,
    )


def filters(gs: Sequence[sv.Group], wanted_epochs: int, families: tuple[str, ...]) -> sv.Filters:
    """The leaderboard's filters as widgets (one row): families, recipes, epochs, shipped and reference rows.
    Epochs start at the sweep's (``sv.default_epochs``): short runs are not ranked against long ones unless asked."""
    fams = sorted({g.family for g in gs if not g.reference})
    recipes = sorted({g.recipe for g in gs})
    epochs = sorted({g.epochs for g in gs})
    a, b, c = st.columns([2, 1.2, 1.2])
    ui.bind("x_show", [f for f in families if f in fams])
    show = a.multiselect("Families", fams, key="x_show", placeholder="all families")
    ui.bind("x_recipes", [])
    rec = b.multiselect("Recipes", recipes, key="x_recipes", placeholder="all recipes",
                        help="quick: the app's recipe (θ trains at its own rate); paper: App. D exactly; custom: "
                        "other settings")  # fmt: skip
    ui.bind("x_epochs_shown", list(sv.default_epochs(gs, wanted_epochs)))
    ep = c.multiselect("Epochs", epochs, key="x_epochs_shown", placeholder="all epochs (ranked together)",
                       help="Runs of different lengths are ranked together only when you choose several.")  # fmt: skip
    d, e = st.columns(2)
    shipped = d.toggle("Shipped examples", value=True, key="x_shipped")
    refs = e.toggle("Reference runs (supervised, untrained)", value=True, key="x_refs")
    return sv.Filters(tuple(show), tuple(rec), tuple(ep), shipped, refs)


def table(board: sv.Board) -> None:
    """The leaderboard (every row; the table scrolls), the best row highlighted only when the ranking separates it,
    and the verdict in words."""
    df = pd.DataFrame(board.rows)
    df["rank"] = ["reference" if pd.isna(r) else str(int(r)) for r in df["rank"]]  # references are not ranked
    best = board.best.keys[0] if board.best is not None else None
    styled = df.style.apply(lambda r: ["background-color: #d8f3dc" if r["key"] == best else ""] * len(r), axis=1)
    styled = styled.format({"L2 (px)": "{:.3g}"}, na_rep="—")
    st.dataframe(styled, key="x_table", hide_index=True, height=min(38 + 35 * len(df), 460),
                 column_config={"key": None, "configuration": st.column_config.TextColumn(width="medium")})  # fmt: skip
    n = len(board.groups)
    if board.best is not None:
        st.success(f"**Best: {board.best.label}** (highlighted) · {board.verdict}", icon=":material/trophy:")
    elif n >= 2:
        st.info(f"**No single best:** {board.verdict}. More seeds may separate them.", icon=":material/balance:")
    elif n == 1:
        st.caption(board.verdict)
    st.caption("L2: the geometric mean over seeds with its 95 % t interval on the log scale; ranked by it, each "
               "configuration compared with the top one seed by seed (paired t on log ratios, Holm-adjusted).")  # fmt: skip


def actions(board: sv.Board, shown: Sequence[sv.Group], video) -> None:
    """Open in Compare as the verdict has it, and the exports (one row per run of the rows shown)."""
    keys = board.compare_keys()
    buttons = st.container(horizontal=True)
    if len(keys) >= 2:
        what = "the best and the runner-up" if board.best is not None else f"the {len(keys)} not separated"
        if buttons.button(f"Open {what} in Compare", type="primary", key="x_compare"):
            st.session_state.pop("cmp_runs", None)
            ui.set_view(runs=keys)
            st.switch_page(ui.PAGES["compare"])
    rows = sv.export_rows(shown)
    buttons.download_button("CSV (one row per run)", sv.to_csv(rows), "runs.csv", "text/csv", key="x_csv",
                            icon=":material/download:")  # fmt: skip
    buttons.download_button("JSON (one row per run)", sv.to_json(rows, video), "runs.json", "application/json",
                            key="x_json", icon=":material/download:")  # fmt: skip


@st.cache_resource(show_spinner=False)
def _past() -> tuple[dict, threading.Lock]:
    return {}, threading.Lock()


def remember(client: str, state) -> None:
    """Keep ``state`` (an ``ExploreState`` whose sweep was started) in this visitor's list of past sweeps."""
    past, lock = _past()
    with lock:
        mine = [s for s in past.get(client, []) if s != state]
        past[client] = ([state] + mine)[:PAST_SWEEPS]


def past_sweeps(client: str) -> list:
    past, lock = _past()
    with lock:
        return list(past.get(client, []))


def describe(state) -> str:
    fams = " + ".join(f.to_text().replace(";", " ") for f in state.families)
    return f"{fams} · seeds {state.seeds} · {state.epochs} epochs"


def family_rows(families, kinds) -> list:
    """One row of widgets per swept family (its coupling or custom expression, the parameter it varies and the
    values), with a delete button each and "Add a family" below; returns the rows as ``FamilyRow``s."""
    ss, rows = st.session_state, []
    for i, row in enumerate(families):
        c1, c2, c3, c4 = st.columns([2, 1.4, 2.4, 0.5], vertical_alignment="bottom")
        kind = row.coupling if row.coupling in kinds else (priors.CUSTOM if priors.CUSTOM in kinds else "rbf")
        ui.bind(f"x_kind_{i}", kind)
        kind = c1.selectbox("Family", list(kinds), format_func=lambda k: k, key=f"x_kind_{i}")
        if kind == priors.CUSTOM:
            ui.bind(f"x_expr_{i}", row.coupling if row.coupling not in kinds else priors.EXAMPLE)
            spec = c1.text_input("log f(z, zp) =", key=f"x_expr_{i}", max_chars=300).strip()
        else:
            spec = kind
        try:
            params = ex.grid_params(spec)
        except ValueError as exc:
            c2.error(first_line(exc))
            continue
        ui.bind(f"x_param_{i}", row.param if row.param in params else params[0])
        param = c2.selectbox("Varies", params, key=f"x_param_{i}", format_func=lambda p, s=spec: ex.param_label(s, p))
        if ss.get(f"x_was_{i}") != (spec, param):  # a new family or parameter starts from its own grid
            ss[f"x_values_{i}"] = (
                row.values if (row.coupling, row.param) == (spec, param) else ex.default_grid(spec, param)
            )
            ss[f"x_was_{i}"] = (spec, param)
        values = c3.text_input("Values (0.1,1,10 or log:0.01:1:5)", key=f"x_values_{i}")
        if not c4.button("", key=f"x_drop_{i}", icon=":material/delete:", help="Remove this family"):
            rows.append(ex.FamilyRow(spec, param, values.strip()))
    if st.button("Add a family", key="x_add", icon=":material/add:"):
        rows.append(ex.FamilyRow("linear", "w_init", ex.default_grid("linear", "w_init")))
    return rows


def reopen_past(client: str, state) -> None:
    """A menu of this visitor's past sweeps (other than ``state``); picking one makes it the page's sweep."""
    ss = st.session_state
    past = [p for p in past_sweeps(client) if p != state]
    if past:
        pick = st.selectbox("Reopen a past sweep", [None, *past], format_func=lambda p: "—" if p is None else describe(p),
                            key="x_past")  # fmt: skip
        if pick is not None:
            for k in [
                k for k in ss if k.startswith(("x_kind_", "x_expr_", "x_param_", "x_values_", "x_was_", "x_past"))
            ]:
                del ss[k]
            for k in ("x_seeds", "x_epochs"):
                ss.pop(k, None)
            ui.set_view(explore=pick)
            st.rerun()
