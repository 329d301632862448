"""rpm_engine: InfoNCE as a recognition-parameterised model (Aitchison & Ganev, TMLR 2024), the moving-balls study.

The stable API (SPEC §4): ``VideoConfig``, ``generate_video``, ``make_coupling``, ``infonce_loss``,
``ExpressionError``; plus the run configuration, training, the run store and evaluation.
"""

from __future__ import annotations

from .lazy import lazy_package

# Each public name and the module that defines it. They are imported on first use (PEP 562), so that
# ``import rpm_engine.config`` or listing stored runs does not load PyTorch; ``from rpm_engine import train`` does.
_EXPORTS = {
    "FIELDS": "config",
    "Field": "config",
    "PAPER_RECIPE": "config",
    "QUICK_RECIPE": "config",
    "RECIPES": "config",
    "Recipe": "config",
    "recipe_of": "config",
    "RunConfig": "config",
    "TRAIN_FIELDS": "config",
    "TrainConfig": "config",
    "VIDEO_FIELDS": "config",
    "VideoConfig": "config",
    "CouplingInfo": "coupling_spec",
    "CouplingSpec": "coupling_spec",
    "PRESETS": "coupling_spec",
    "Param": "coupling_spec",
    "coupling_info": "coupling_spec",
    "coupling_names": "coupling_spec",
    "offered_couplings": "coupling_spec",
    "COUPLINGS": "couplings",
    "Coupling": "couplings",
    "ExpressionCoupling": "couplings",
    "LinearCoupling": "couplings",
    "MAX_DIM": "couplings",
    "RBFCoupling": "couplings",
    "make_coupling": "couplings",
    "register_coupling": "couplings",
    "Video": "data",
    "generate_video": "data",
    "render_frames": "data",
    "Encoder": "encoder",
    "centre_of_mass": "encoder",
    "Heatmap": "evaluate",
    "conditional_prior": "evaluate",
    "decode": "evaluate",
    "fit_decoder": "evaluate",
    "l2_errors": "evaluate",
    "mean_predictor_l2": "evaluate",
    "seeds_summary": "evaluate",
    "ExpressionError": "expressions",
    "parse_expression": "expressions",
    "infonce_bound": "objective",
    "infonce_loss": "objective",
    "Run": "run",
    "RunState": "run",
    "obtain": "obtain",
    "CorruptRun": "store",
    "RunStore": "store",
    "StoreError": "store",
    "default_root": "store",
    "Cancelled": "train",
    "Progress": "train",
    "TrainingError": "train",
    "resolve_device": "train",
    "train": "train",
}

__all__ = lazy_package(__name__, _EXPORTS)
