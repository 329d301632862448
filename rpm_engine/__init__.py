"""rpm_engine: InfoNCE as a recognition-parameterised model (Aitchison & Ganev, TMLR 2024), the moving-balls study.

The stable API (SPEC §4): ``VideoConfig``, ``generate_video``, ``make_coupling``, ``infonce_loss``,
``ExpressionError``; plus the run configuration, training, the run store and evaluation.
"""

from .couplings import (
    COUPLINGS,
    PRESETS,
    Coupling,
    CouplingSpec,
    ExpressionCoupling,
    LinearCoupling,
    RBFCoupling,
    coupling_names,
    make_coupling,
    register_coupling,
)
from .data import Video, VideoConfig, generate_video, render_frames
from .encoder import Encoder, centre_of_mass
from .evaluate import Heatmap, conditional_prior, decode, fit_decoder, l2_errors, seeds_summary
from .expressions import ExpressionError, parse_expression
from .objective import infonce_bound, infonce_loss
from .store import CorruptRun, Run, RunStore, default_root
from .train import Cancelled, Progress, RunConfig, TrainConfig, TrainingError, TrainResult, resolve_device, train

__all__ = [
    "COUPLINGS",
    "PRESETS",
    "Cancelled",
    "CorruptRun",
    "Coupling",
    "CouplingSpec",
    "Encoder",
    "ExpressionCoupling",
    "ExpressionError",
    "Heatmap",
    "LinearCoupling",
    "Progress",
    "RBFCoupling",
    "Run",
    "RunConfig",
    "RunStore",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "Video",
    "VideoConfig",
    "centre_of_mass",
    "conditional_prior",
    "coupling_names",
    "decode",
    "default_root",
    "fit_decoder",
    "generate_video",
    "infonce_bound",
    "infonce_loss",
    "l2_errors",
    "make_coupling",
    "parse_expression",
    "register_coupling",
    "render_frames",
    "resolve_device",
    "seeds_summary",
    "train",
]
