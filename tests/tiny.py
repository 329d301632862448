"""Small things the tests share: the smallest configuration the app trains in about a second, as a URL query (AppTest
and browser tests), and what must agree bit for bit between two runs of one key (the numerics tests)."""

TINY_QUERY = {"frames": "24", "size": "32", "diam": "6", "c": "rbf;theta=1", "epochs": "2"}

RUN_METRICS = ("l2_mean", "l2_per_ball", "final_loss", "final_mi", "coupling_values")


def run_numbers(run) -> dict:
    """What must agree bit for bit between two runs of one key: the metrics (I_N included), the latents, every
    weight."""
    out = {k: run.metrics[k] for k in RUN_METRICS}
    out["z"] = run.z.tobytes()
    out["weights"] = {k: v.numpy().tobytes() for k, v in run.encoder_state.items()}
    return out
