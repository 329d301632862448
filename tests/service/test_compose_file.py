"""The compose example (deploy/compose.yaml) keeps what its run as a whole showed it needs (docs/HOSTING.md, "Docker"):
each Ray node's object store fits its container's /dev/shm, only app servers run the image's Streamlit health check,
`ray start --block` is the container's main process (it gets `docker stop`'s SIGTERM), and every server gets the same
limits."""

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (Ray brings it)")

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"
UNITS = {"kb": 1e3, "k": 1e3, "mb": 1e6, "m": 1e6, "gb": 1e9, "g": 1e9}


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def ray_nodes(services):
    return {name: s for name, s in services.items() if "ray start" in str(s.get("command", ""))}


def size(text) -> float:
    m = re.fullmatch(r"(\d+)\s*([kmg]b?)?", str(text).strip().lower())
    assert m, f"not a size: {text!r}"
    return int(m.group(1)) * UNITS.get(m.group(2) or "", 1)


def test_each_ray_node_has_an_object_store_that_fits_its_shm(services):
    nodes = ray_nodes(services)
    assert {"head", "worker", "app1", "app2"} <= set(nodes)
    for name, s in nodes.items():
        store = re.search(r"--object-store-memory[= ](\d+)", s["command"])
        assert store, f"{name}: Ray's default object store (30 % of the host's memory) does not fit /dev/shm"
        assert "shm_size" in s and int(store.group(1)) < size(s["shm_size"]), name


def test_only_app_servers_run_the_apps_health_check(services):
    for name, s in ray_nodes(services).items():
        if "streamlit run" in s["command"]:
            assert "healthcheck" not in s, name  # the image's own: Streamlit answers and the store can be written
        else:
            check = s.get("healthcheck", {})
            assert check.get("disable") or check.get("test"), f"{name} would run the image's Streamlit check"


def test_blocking_ray_nodes_are_the_containers_main_process(services):
    for name, s in ray_nodes(services).items():
        if "--block" in s["command"]:
            assert re.search(r"sh -c '\s*exec ray start", s["command"]), name


def test_every_server_gets_the_same_limits(services):
    apps = [s for s in services.values() if "streamlit run" in str(s.get("command", ""))]
    assert len(apps) >= 2
    limits = [{k: v for k, v in s["environment"].items() if k.startswith("RPM_MAX_")} for s in apps]
    assert limits[0] and all(lim == limits[0] for lim in limits)
    assert all(s["environment"]["RPM_RAY_ADDRESS"] == "head:6379" for s in apps)
