"""How long each view of the Bound page takes, from the shipped runs (issue 18: each under a second, no training).

    python benchmarks/bound_views.py [--repeats 3] [--apptest]

Per view, the view model's work (explorer.bound: the maths, the figure and the caption) on a cold call (nothing
cached) and the median of ``--repeats`` more calls (still uncached: the page caches these per server, so a repeat
visit costs only the figure). The baseline, measured in the same process: ``evaluate.conditional_prior`` of the same
run and grid (what Home's Fig. 1D costs), so the figures can be read as ratios on a busy machine. ``--apptest`` adds
the page as Streamlit runs it (AppTest: the first script run with imports and run loading, then one rerun per control).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from explorer import bound as vm
from explorer import charts
from explorer.catalog import SHIPPED_ROOT, Catalog
from explorer.state import default_stride
from rpm_engine.config import default_frame
from rpm_engine.data import generate_video, simulate
from rpm_engine.evaluate import conditional_prior
from rpm_engine.store import RunStore


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first call, median of ``repeats`` further calls), seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    rest = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rest.append(time.perf_counter() - t)
    return first, statistics.median(rest) if rest else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--apptest", action="store_true", help="also time the page in Streamlit's AppTest")
    args = ap.parse_args()

    t = time.perf_counter()
    store = RunStore(SHIPPED_ROOT, read_only=True)
    fig1 = Catalog([("shipped", store)]).shipped_fig1()
    runs = {m: [store.load(e.key) for e in fig1[m]] for m in ("rbf", "linear", "supervised", "untrained") if m in fig1}
    rbf = runs["rbf"][0]
    vcfg = rbf.config.video
    video, centres = generate_video(vcfg), simulate(vcfg)[0]
    load_s = time.perf_counter() - t
    frame, stride = default_frame(vcfg), default_stride(vcfg)

    def curve(pair_set):
        rows = vm.curves(runs, pair_set)
        return vm.curve_figure(rows), vm.curve_caption(rows, pair_set)

    def elbo(prior):
        rows = vm.elbo_rows(runs, "all", prior)
        return vm.elbo_figure(rows), vm.elbo_caption(rows, prior)

    def warp(run, both: bool):
        one = vm.warp_row(run, centres, 1.0) if both else one_cached[run.key]
        at = vm.warp_row(run, centres, 2.0)
        return vm.warp_figure(one, at), vm.warp_caption(one, at, charts.method_name(run.config))

    one_cached = {r.key: vm.warp_row(r, centres, 1.0) for r in (rbf, runs["linear"][0])}

    def prior(run):
        got = vm.priors_of(run, video, frame, 0, stride)
        return charts.prior_heatmap(video, got["marginal"], height=440), vm.prior_caption(got, 8, "marginal", "rbf")

    views = [
        ("baseline: evaluate.conditional_prior (Home's Fig. 1D)", lambda: conditional_prior(
            rbf.encoder(), rbf.coupling(), video, frame, 0, stride)),
        ("A  I_N against N, all 511 pairs, 10 runs", lambda: curve("all")),
        ("A  I_N against N, held-out pairs, 10 runs", lambda: curve("held_out")),
        ("B  ELBO terms, trained critics, 10 runs", lambda: elbo("trained")),
        ("B  ELBO terms, RBF fitted, 20 runs", lambda: elbo("rbf")),
        ("C  warp, RBF run: p = 1 and p = 2 (cold)", lambda: warp(rbf, True)),
        ("C  warp, RBF run: a slider move (p = 1 cached)", lambda: warp(rbf, False)),
        ("C  warp, linear run: a slider move", lambda: warp(runs["linear"][0], False)),
        ("D  R(z') prior, RBF run (encode the grid, both R)", lambda: prior(rbf)),
    ]  # fmt: skip
    print(f"bound views · {time.strftime('%Y-%m-%d %H:%M:%S %Z')} · load average {os.getloadavg()} · "
          f"{os.cpu_count()} CPUs · loading 20 runs + video {load_s:.2f} s")  # fmt: skip
    print(f"{'view':56s} {'first s':>8s} {'median s':>9s} {'÷ baseline':>10s}")
    base = None
    for name, fn in views:
        first, med = timed(fn, args.repeats)
        base = base or med
        print(f"{name:56s} {first:8.3f} {med:9.3f} {med / base:10.2f}")

    if args.apptest:
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(SHIPPED_ROOT.parent.parent / "app.py"), default_timeout=300)
        at.switch_page("pages/6_bound.py")
        steps = [
            ("first script run (imports, runs, every view)", lambda: at.run()),
            ("rerun: warp slider p = 3", lambda: at.select_slider(key="b_warp_p").set_value(3.0).run()),
            ("rerun: R(z') toggle on", lambda: at.toggle(key="b_marginal").set_value(True).run()),
            ("rerun: prior = RBF fitted", lambda: at.radio(key="b_prior").set_value("rbf").run()),
            ("rerun: pairs = held-out", lambda: at.radio(key="b_pairs").set_value("held_out").run()),
            ("rerun: pairs = all again (cached)", lambda: at.radio(key="b_pairs").set_value("all").run()),
        ]
        print(f"\nAppTest · load average {os.getloadavg()}")
        for name, fn in steps:
            t = time.perf_counter()
            fn()
            assert not at.exception, [e.value for e in at.exception]
            print(f"{name:56s} {time.perf_counter() - t:8.3f}")


if __name__ == "__main__":
    main()
