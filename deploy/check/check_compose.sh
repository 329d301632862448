#!/bin/sh
# Runs the compose example as a whole (docs/HOSTING.md, "Docker") and checks it through the balancer: the health
# endpoint, the index page, and one training through the class's Ray service by a websocket visitor (the project's
# client, explorer/st_client.py: run from the repository root with the project's Python). Needs the image
# rpm-explorer and docker-compose (1.29) or docker compose; RPM_HAPROXY_IMAGE for a stand-in balancer image.
#   sh deploy/check/check_compose.sh [python]
set -u
PY=${1:-python}
COMPOSE=${COMPOSE:-docker-compose}
P=$($PY -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
export RPM_PUBLISH=127.0.0.1:$P
DC="$COMPOSE -p rpmcheck -f deploy/compose.yaml"
t0=$(date +%s)
$DC up -d --scale worker=2 || exit 1
for i in $(seq 1 240); do curl -sf -m 2 http://127.0.0.1:$P/_stcore/health >/dev/null && break; sleep 0.5; done
echo "health through the balancer $(( $(date +%s) - t0 )) s after up: $(curl -s -m 2 http://127.0.0.1:$P/_stcore/health)"
curl -s -m 5 -o /dev/null -w "index: %{http_code}\n" http://127.0.0.1:$P/
$PY - "http://127.0.0.1:$P" <<'PYEOF'
import asyncio, sys, time
from explorer.st_client import TINY, Visitor, jobs_done

async def main(url):
    async with Visitor(url) as v:
        await v.open("train", {**TINY, "vseed": "5"})
        await v.settle(180)
        t = time.time()
        await v.click("train_start")
        await v.until(jobs_done, 300)
        print(f"a training through the balancer: {time.time() - t:.1f} s;", list(v.texts_under("train_job_").values())[0][0][:90])
        print("runner line:", v.texts_under("train_runner_stats")["train_runner_stats"][0][:120])
        print("exceptions:", len(v.exceptions))

asyncio.run(main(sys.argv[1]))
PYEOF
$DC ps
t0=$(date +%s); $DC down -v; echo "down -v: $(( $(date +%s) - t0 )) s"
