"""The class's limits are one truth on Ray: the job service keeps the limits it was created with, a server started with
other settings uses the class's and says so in one warning line (each differing variable, the value in force and its
own), its pages show the class's (``service.in_force``), refusals name the class, and the texts about the queue say
who runs it. A real Ray (one local node on 127.0.0.1), the real actor; nothing trains."""

import logging

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")

from rpm_engine import RunConfig, RunStore, VideoConfig  # noqa: E402
from rpm_service import service  # noqa: E402
from rpm_service.limits import Limits, differences  # noqa: E402
from rpm_service.local_cluster import CLIENT_ENV  # noqa: E402
from rpm_service.ray_jobs import RayJobRunner, stop_service  # noqa: E402

TINY = VideoConfig(frames=24, size=32, diameter=6)
FIRST = Limits(jobs=2, queue=4, per_client=2, epochs=5, seeds=3)  # the server that creates the class's service
OTHER = Limits(jobs=1, queue=8, per_client=2, epochs=9, seeds=3, training=True, background_training=True)


@pytest.fixture(scope="module")
def address():
    env = pytest.MonkeyPatch()
    for k, v in CLIENT_ENV.items():
        env.setenv(k, v)
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        stop_service()
        ray.shutdown()
        env.undo()


def test_differences_name_each_class_wide_limit():
    assert differences(FIRST, FIRST) == ""
    text = differences(OTHER, FIRST)
    assert (
        text == "RPM_MAX_EPOCHS=5 (this server: 9), RPM_MAX_JOBS=2 (this server: 1), RPM_MAX_QUEUE=4 (this server: 8)"
    )
    # presentation mode and the in-process workers' priority are one server's switches, not the class's
    assert differences(Limits(training=False, background_training=True), Limits()) == ""


def test_a_server_with_other_limits_uses_the_class_and_says_so(address, tmp_path, monkeypatch, caplog):
    store = RunStore(tmp_path / "store")
    monkeypatch.setenv(service.ADDRESS_ENV, address)
    with caplog.at_level(logging.WARNING, logger="rpm_service.ray_jobs"):
        first = service.job_service(FIRST, store.root)  # creates the class's service with its limits
        assert first.limits == FIRST and first.differs == "" and not caplog.records
        second = service.job_service(OTHER, store.root)  # another server, started with other RPM_* settings
    assert second.limits == FIRST  # the class's limits are in force, not its own
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "RPM_MAX_JOBS=2 (this server: 1)" in warnings[0] and "RPM_MAX_QUEUE=4 (this server: 8)" in warnings[0]
    assert "RPM_MAX_EPOCHS=5 (this server: 9)" in warnings[0] and "RPM_MAX_SEEDS" not in warnings[0]
    # its pages show and check the class's limits, with its own per-server switches
    shown = service.in_force(OTHER)
    assert (shown.jobs, shown.queue, shown.epochs) == (2, 4, 5) and shown.background_training
    assert service.class_limits() == FIRST
    # a request within this server's own limits but over the class's is refused, naming the class
    with pytest.raises(ValueError, match="epochs: 8 is over the class's limit of 5"):
        second.submit(RunConfig.of("rbf", video=TINY, epochs=8), "alice")
    assert second.stats()["jobs"] == 0


def test_without_ray_a_server_keeps_its_own_limits(monkeypatch):
    monkeypatch.delenv(service.ADDRESS_ENV, raising=False)
    assert service.class_limits() is None and service.in_force(OTHER) is OTHER


def test_a_command_line_client_has_no_limits_of_its_own_to_compare(address, caplog):
    with caplog.at_level(logging.WARNING, logger="rpm_service.ray_jobs"):
        r = RayJobRunner(address=address)  # what a sweep from the CLI makes: no RPM_* settings of its own
    assert r.differs == "" and not [m for m in caplog.messages if "limits" in m] and r.limits.jobs >= 1


def test_the_texts_about_the_queue_say_who_runs_it(monkeypatch):
    from explorer import views

    ray_stats = {"jobs": 3, "trained": 2, "shared": 1, "opened": 0, "running": 1, "waiting": 0, "workers": 4}
    line = views.runner_line({**ray_stats, "backend": "ray"})
    assert line.startswith("The class's job service on Ray") and "this server" not in line
    assert "3 training jobs so far" in line  # what the load tools read
    assert views.runner_line(ray_stats).startswith("Job runner shared by every visitor of this server")
    assert "the class lets each visitor have 2 runs" in views.pending_text(1, 2, None, views.holder({"backend": "ray"}))
    assert "this server lets each visitor" in views.pending_text(1, 2, None, views.holder({}))
    assert "on the class's Ray cluster" in views.speed_text([], TINY, 5, {"backend": "ray"})
    monkeypatch.setenv(service.ADDRESS_ENV, "127.0.0.1:1")  # without stats (the Data page): from the configuration
    assert "on the class's Ray cluster" in views.speed_text([], TINY, 5)
    monkeypatch.delenv(service.ADDRESS_ENV)
    assert "on this server" in views.speed_text([], TINY, 5)


def test_a_server_carries_on_after_the_service_died(address, tmp_path, caplog):
    """The service lost for good (ended; or its node, the head, died) is created afresh at a server's next call, with
    that server's limits: the server does not stay 'unavailable' until it is restarted (benchmarks/gcs_ft.py)."""
    r = RayJobRunner(RunStore(tmp_path / "store"), FIRST, address=address)
    before = r.info["pid"]
    assert stop_service()  # ray.kill: the actor dies for good, as when its node is lost
    with caplog.at_level(logging.WARNING, logger="rpm_service.ray_jobs"):
        stats = r.stats()  # the next call finds no service, creates one and is answered there
    assert stats["jobs"] == 0 and r.info["pid"] != before and r.limits == FIRST
    assert any("had died" in m for m in caplog.messages)
    other = RayJobRunner(RunStore(tmp_path / "store"), OTHER, address=address)
    assert other.info["pid"] == r.info["pid"]  # one service again, found by name
