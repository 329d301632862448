#!/bin/sh
# Checks of the built image (docs/APP.md, Docker): needs a Docker daemon (DOCKER_HOST) and the image rpm-explorer.
set -u
P=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
echo "== ray in the image:"; docker run --rm rpm-explorer python -c "import ray, torch; print('ray', ray.__version__, 'torch', torch.__version__)"
echo "== the base's Debian release:"; docker run --rm rpm-explorer cat /etc/debian_version
echo "== 1. named volume, default start:"
t0=$(date +%s.%N); docker run -d --name rpm-a -p 127.0.0.1:$P:8501 -v rpm-check-data:/data rpm-explorer >/dev/null
for i in $(seq 1 120); do curl -sf http://127.0.0.1:$P/_stcore/health >/dev/null && break; sleep 0.5; done
echo "health answered $(python3 -c "import time;print(round(time.time()-$t0,1))") s after docker run"
docker exec rpm-a id; docker exec rpm-a sh -c 'for p in /proc/[0-9]*; do grep -q streamlit $p/cmdline 2>/dev/null && stat -c "streamlit runs as uid %u" $p && break; done'
docker exec rpm-a python deploy/healthcheck.py; echo "healthcheck exit $?"
echo "== 1b. the store turned read-only:"
docker exec -u 0 rpm-a chmod -R a-w /data/runs; docker exec rpm-a python deploy/healthcheck.py; echo "healthcheck exit $?"
docker exec -u 0 rpm-a chmod -R u+w /data/runs; docker rm -f rpm-a >/dev/null
echo "== 2. a root-owned host folder bind-mounted (Docker creates it as root):"
rm -rf ${TMPDIR:-/tmp}/rpm_check_bind && mkdir ${TMPDIR:-/tmp}/rpm_check_bind && chmod 755 ${TMPDIR:-/tmp}/rpm_check_bind && ls -ldn ${TMPDIR:-/tmp}/rpm_check_bind
docker run --name rpm-b0 -v ${TMPDIR:-/tmp}/rpm_check_bind:/data rpm-explorer; echo "default user: exit $?"; docker rm -f rpm-b0 >/dev/null
docker run -d --name rpm-b --user 0 -p 127.0.0.1:$P:8501 -v ${TMPDIR:-/tmp}/rpm_check_bind:/data rpm-explorer >/dev/null
for i in $(seq 1 120); do curl -sf http://127.0.0.1:$P/_stcore/health >/dev/null && break; sleep 0.5; done
docker exec rpm-b python deploy/healthcheck.py; echo "healthcheck exit $?"; ls -ln ${TMPDIR:-/tmp}/rpm_check_bind
docker exec -u 1000 rpm-b python -m rpm_engine train --coupling rbf --frames 24 --size 32 --diameter 6 --epochs 1 --json /tmp/x.json >/dev/null 2>&1; echo "a tiny train inside (docker exec -u 1000; the app: $(docker exec rpm-b sh -c 'for p in /proc/[0-9]*; do grep -q streamlit $p/cmdline 2>/dev/null \&\& stat -c "uid %u" $p \&\& break; done')): exit $?"; ls ${TMPDIR:-/tmp}/rpm_check_bind/runs | head -3
docker rm -f rpm-b >/dev/null
echo "== 3. an arbitrary uid on a root-owned host folder:"
rm -rf ${TMPDIR:-/tmp}/rpm_check_bind2 && mkdir ${TMPDIR:-/tmp}/rpm_check_bind2 && chmod 755 ${TMPDIR:-/tmp}/rpm_check_bind2
docker run --name rpm-c --user 12345 -v ${TMPDIR:-/tmp}/rpm_check_bind2:/data rpm-explorer; echo "exit $?"; docker rm -f rpm-c >/dev/null
echo "== 4. an arbitrary uid in group 0 (OpenShift) on a new named volume:"
docker run -d --name rpm-d --user 12345:0 -p 127.0.0.1:$P:8501 -v rpm-check-data2:/data rpm-explorer >/dev/null
for i in $(seq 1 120); do curl -sf http://127.0.0.1:$P/_stcore/health >/dev/null && break; sleep 0.5; done
docker exec rpm-d id; docker exec rpm-d sh -c 'touch /data/runs/x && echo "store writable"'; docker logs rpm-d 2>&1 | tail -2
docker rm -f rpm-d >/dev/null
