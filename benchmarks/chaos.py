"""How far a 10⁻⁶ nudge to the initial weights moves a quick-scale run (issue 18): the spread a single-seed number hides.

    python benchmarks/chaos.py [--seeds 0 1 2] [--nudges 3] [--couplings linear rbf] [--json PATH]
    python benchmarks/chaos.py --table benchmarks/results/chaos_quick.json

For each coupling and training seed, the quick recipe's run (512 frames of 64 px, 30 epochs) is trained as it is and
once per nudge k = 1..N with every encoder weight multiplied by (1 + 10⁻⁶ ε), ε ~ N(0, 1) from a generator seeded k:
the coupling's starting values, the batch order and the video stay the same. On one machine a run is bit-identical
for its key (``rpm_engine.numerics``), so every difference below is the nudge's. Prints and saves (JSON, written after
every run, so an interrupted benchmark keeps what it measured) each held-out L2 and, per coupling, the spread within a
seed (max - min over its nudged and unnudged runs) beside the spread between seeds. Nothing is stored in the run
cache: a nudged run has no key of its own.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from rpm_engine import generate_video
from rpm_engine.config import RECIPES
from rpm_engine.encoder import Encoder

EPS = 1e-6
OUT = Path(__file__).with_name("results") / "chaos_quick.json"


def nudged_encoder(k: int, eps: float = EPS):
    """An Encoder class whose fresh weights are multiplied by (1 + eps·ε) with ε from its own generator (seed k), so
    the global random stream (hence the coupling's initialisation) is untouched; k = 0: no nudge."""

    class Nudged(Encoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if k:
                gen = torch.Generator().manual_seed(k)
                with torch.no_grad():
                    for p in self.parameters():
                        p.mul_(1 + eps * torch.randn(p.shape, generator=gen, dtype=torch.float64).float())

    return Nudged


def train_nudged(config, video, k: int):
    """train() with the encoder built by ``nudged_encoder(k)`` (train's module looks ``Encoder`` up when it sets up)."""
    module = importlib.import_module("rpm_engine.train")  # the module (the package's ``train`` is the function)
    original = module.Encoder
    module.Encoder = nudged_encoder(k)
    try:
        return module.train(config, video, device="cpu")
    finally:
        module.Encoder = original


def spread(values: list[float]) -> float:
    return max(values) - min(values)


def summary(per_seed: dict[str, dict]) -> dict:
    """Within a seed (its runs' max - min) against between seeds (the unnudged runs' max - min), px."""
    within = [spread([s["unnudged"], *s["nudged"]]) for s in per_seed.values()]
    every = [v for s in per_seed.values() for v in (s["unnudged"], *s["nudged"])]
    base = [s["unnudged"] for s in per_seed.values()]
    return {
        "runs": len(every),
        "median": statistics.median(every),
        "min": min(every),
        "max": max(every),
        "within_seed_spread_px": within,
        "median_within_seed_spread_px": statistics.median(within),
        "between_seed_spread_px": spread(base) if len(base) > 1 else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", metavar="JSON", help="only print the table of a saved result")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (%(default)s)")
    p.add_argument("--nudges", type=int, default=3, help="nudged runs per seed, besides the unnudged one")
    p.add_argument("--couplings", nargs="+", default=["linear", "rbf"], choices=["linear", "rbf"])
    p.add_argument("--json", default=str(OUT), help="output (%(default)s)")
    a = p.parse_args(argv)
    if a.table:
        print(format_table(json.loads(Path(a.table).read_text())))
        return 0
    recipe = RECIPES["quick"]
    video = generate_video(recipe.video)
    from rpm_engine.provenance import machine_provenance

    out = {
        "command": "python benchmarks/chaos.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_start": os.getloadavg(),
        "epsilon": EPS,
        "nudge": "every encoder weight times (1 + eps * N(0, 1)), generator seed k = 1..nudges; k = 0 unnudged",
        "recipe": recipe.name,
        "video": recipe.video.to_dict(),
        "machine": machine_provenance("cpu"),
        "couplings": {},
    }
    start = time.perf_counter()
    for coupling in a.couplings:
        per_seed: dict[str, dict] = {}
        out["couplings"][coupling] = {"config": None, "seeds": per_seed}
        for seed in a.seeds:
            config = recipe.run_config(coupling, seed=seed)
            out["couplings"][coupling]["config"] = config.to_dict()["coupling"]
            row = per_seed[str(seed)] = {"key": config.key(), "unnudged": None, "nudged": [], "seconds": []}
            for k in range(a.nudges + 1):
                t0 = time.perf_counter()
                run = train_nudged(config, video, k)
                l2 = run.metrics["l2_mean"]
                if k:
                    row["nudged"].append(l2)
                else:
                    row["unnudged"] = l2
                    row["final_mi"] = run.metrics["final_mi"]
                row["seconds"].append(round(time.perf_counter() - t0, 1))
                print(f"{coupling} seed {seed} nudge {k}: {l2:.3f} px ({row['seconds'][-1]} s)", flush=True)
                out["seconds"] = round(time.perf_counter() - start, 1)
                out["load_average_end"] = os.getloadavg()
                Path(a.json).write_text(json.dumps(out, indent=1))
        out["couplings"][coupling]["summary"] = summary(per_seed)
        Path(a.json).write_text(json.dumps(out, indent=1))
    print(format_table(out))
    return 0


def format_table(out: dict) -> str:
    """The Markdown table of RESULTS.md: per coupling and seed, the unnudged and nudged errors and their spread."""
    lines = [
        "| coupling | seed | unnudged L2 (px) | nudged ×(1 + 10⁻⁶ ε) (px) | spread within seed (px) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, c in out["couplings"].items():
        for seed, s in c["seeds"].items():
            if s["unnudged"] is None or not s["nudged"]:
                continue
            nudged = ", ".join(f"{v:.3f}" for v in s["nudged"])
            lines.append(
                f"| {name} | {seed} | {s['unnudged']:.3f} | {nudged} | {spread([s['unnudged'], *s['nudged']]):.2g} |"
            )
    for name, c in out["couplings"].items():
        if "summary" in c:
            m = c["summary"]
            between = m["between_seed_spread_px"]
            lines.append(
                f"\n{name}: {m['runs']} runs, median {m['median']:.3f} px, range {m['min']:.3f}–{m['max']:.3f} px; "
                f"spread within a seed {', '.join(f'{v:.2g}' for v in m['within_seed_spread_px'])} px"
                + (f", between the seeds' unnudged runs {between:.2g} px" if between is not None else "")
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
