"""rpm_engine: InfoNCE as a recognition-parameterised model (Aitchison & Ganev, TMLR 2024), the moving-balls study.

The stable API (SPEC §4): ``VideoConfig``, ``generate_video``, ``make_coupling``, ``infonce_loss``,
``ExpressionError``; plus the run configuration, training, the run store and evaluation.
"""

from .config import FIELDS, TRAIN_FIELDS, VIDEO_FIELDS, Field, RunConfig, TrainConfig, VideoConfig
from .couplings import (
    COUPLINGS,
    MAX_DIM,
    PRESETS,
    Coupling,
    CouplingInfo,
    CouplingSpec,
    ExpressionCoupling,
    LinearCoupling,
    Param,
    RBFCoupling,
    coupling_info,
    coupling_names,
    make_coupling,
    offered_couplings,
    register_coupling,
)
from .data import Video, generate_video, render_frames
from .encoder import Encoder, centre_of_mass
from .evaluate import Heatmap, conditional_prior, decode, fit_decoder, l2_errors, seeds_summary
from .expressions import ExpressionError, parse_expression
from .objective import infonce_bound, infonce_loss
from .run import Run
from .store import CorruptRun, RunStore, StoreError, default_root
from .train import Cancelled, Progress, TrainingError, resolve_device, train

__all__ = [
    "MAX_DIM",
    "CouplingInfo",
    "Param",
    "coupling_info",
    "offered_couplings",
    "COUPLINGS",
    "PRESETS",
    "Cancelled",
    "CorruptRun",
    "Coupling",
    "CouplingSpec",
    "Encoder",
    "FIELDS",
    "Field",
    "TRAIN_FIELDS",
    "VIDEO_FIELDS",
    "ExpressionCoupling",
    "ExpressionError",
    "Heatmap",
    "LinearCoupling",
    "Progress",
    "RBFCoupling",
    "Run",
    "RunConfig",
    "RunStore",
    "StoreError",
    "TrainConfig",
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
