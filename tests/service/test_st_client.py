"""The load benchmark's websocket client (explorer/st_client.py) against a real ``streamlit run app.py``: it gets
Home's Plotly charts, and on Train it presses the button, answers the page's refreshes and sees its job finish."""

import asyncio
import concurrent.futures
import tempfile
from pathlib import Path

import pytest

from explorer.st_client import TINY, Visitor, jobs_done
from explorer.st_client import serve as start


def run(coro):
    """``asyncio.run`` on a thread of its own: Playwright's session-wide browser keeps an event loop running on the
    main thread when the whole suite runs, and a second loop cannot start there."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def server():
    tmp = Path(tempfile.mkdtemp(prefix="rpm_client_"))
    proc, url = start(tmp / "store", tmp / "streamlit.log", env={"RPM_ENGINE_FAST": "0"})
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_home_shows_its_charts_and_no_exception(server):
    async def visit():
        async with Visitor(server) as v:
            await v.open("")
            await v.settle(120)
            return v

    v = run(visit())
    assert v.elements("plotly_chart") and not v.exceptions
    assert "home" not in v.pages and "train" in v.pages  # the pages' URL names came with the session


def test_train_button_runs_a_job_the_page_refreshes_until_it_is_done(server):
    async def visit():
        async with Visitor(server) as v:
            await v.open("train", {**TINY, "vseed": "31"})
            await v.settle(120)
            assert "0 training jobs so far" in v.texts_under("train_runner_stats")["train_runner_stats"][0]
            await v.click("train_start")
            await v.until(jobs_done, 120)
            return v

    v = run(visit())
    (row,) = v.texts_under("train_job_").values()
    assert "trained in" in row[0] and "held-out error" in row[0] and not v.exceptions
    assert v.auto_reruns_sent >= 1  # the click's run showed the job waiting: only the refresh timer showed it done
    with pytest.raises(LookupError):
        run(_click_nothing(server))


async def _click_nothing(url):
    async with Visitor(url) as v:
        await v.open("train", TINY)
        await v.settle(120)
        await v.click("no_such_button")
