# RPM Explorer for a class: the Streamlit app on CPU torch, the shipped example runs, hosted-demo limits, a health check.
#   docker build -t rpm-explorer .
#   docker run -d --name rpm-explorer --restart unless-stopped -p 8501:8501 -v rpm-data:/data rpm-explorer
# then open http://localhost:8501. Limits are environment variables (docs/APP.md, "Hosting for a class"); override any
# with -e RPM_MAX_...=N. The volume keeps the run store and the compiled kernels across containers.
# /data may also be a bind-mounted host folder (e.g. -v /srv/rpm:/data). One Docker created is owned by root: start
# that container with --user 0 and the entrypoint gives /data to uid 1000 and drops to it; started as any other user
# the entrypoint checks /data can be written and refuses in one line with the fix if not (deploy/entrypoint.sh). The same image runs a Ray head or worker node for a class on
# several servers (docs/HOSTING.md, deploy/compose.yaml).
# The base image's Debian release is pinned (bookworm): a rebuild next year gets the same system libraries and g++.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# CPU-only torch first (~865 MB installed, instead of the multi-GB CUDA build); requirements.txt's range then accepts it.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-ray.txt ./
# g++ builds the fused CPU encoder kernels (rpm_engine/fast.py); without it the engine falls back to stock PyTorch.
# Ray lets a container join a cluster (the class's job service, sweeps): docs/HOSTING.md.
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/* \
    && pip install -r requirements.txt -r requirements-ray.txt

# The app: engine, UI helpers, pages, Streamlit settings and the shipped runs (assets/store, a few hundred KB).
COPY rpm_engine/ rpm_engine/
COPY rpm_service/ rpm_service/
COPY explorer/ explorer/
COPY pages/ pages/
COPY app.py ./
COPY .streamlit/config.toml .streamlit/config.toml
COPY assets/ assets/
COPY deploy/entrypoint.sh deploy/healthcheck.py deploy/

# An unprivileged user; the run store lives on a volume so trained runs survive a restart.
RUN useradd --create-home --uid 1000 rpm \
    && mkdir -p /data/runs assets/store/tmp assets/store/locks \
    && chown -R rpm /data assets/store/tmp assets/store/locks
# The fused kernels are compiled with -march=native, one build per CPU kind (rpm_engine/fast.py names each build by a
# hash of the CPU and of the source's path, /app here). They live on the /data volume: built here for the build
# machine's CPU (a new named volume starts with the image's /data), and built once more into the volume, not into each
# container's layer, on a host with another CPU; the app starts that build in the background at its first visit. A
# failed compile fails the build.
ENV TORCH_EXTENSIONS_DIR=/data/torch_extensions
RUN mkdir -p "$TORCH_EXTENSIONS_DIR" \
    && python -c "import sys; from rpm_engine import fast; ok = fast.extension() is not None; print('fused kernels built:', ok); sys.exit(0 if ok else 1)" \
    && chown -R rpm:0 /data && chmod -R g+rwX /data
# The app runs as uid 1000 (rpm), and so does `docker exec` (runs written by hand keep the store's owner). An arbitrary
# uid (--user 12345, OpenShift's random uid in group 0) can write the image's /data through group 0. A root-owned
# bind mount is refused at start with the fix; with --user 0 the entrypoint fixes its owner and drops to uid 1000.
USER rpm

# Hosted-demo limits, enforced by the job runner (not only by the widgets). A class of ~30 on a few CPU cores:
# quick-scale runs (128 frames of 64 px) train in seconds; the paper's scale is for runs the lecturer pre-trains.
ENV RPM_ENGINE_CACHE=/data/runs \
    RPM_MAX_FRAMES=512 \
    RPM_MAX_SIZE=128 \
    RPM_MAX_BALLS=4 \
    RPM_MAX_EPOCHS=60 \
    RPM_MAX_SEEDS=5 \
    RPM_MAX_JOBS=1 \
    RPM_MAX_QUEUE=30 \
    RPM_MAX_STORE_MB=500 \
    RPM_ALLOW_EXPRESSIONS=1
VOLUME ["/data"]

EXPOSE 8501
# Healthy = the app answers and the run store can be written (a read-only store is reported as unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "deploy/healthcheck.py"]
ENTRYPOINT ["deploy/entrypoint.sh"]

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", \
     "--browser.gatherUsageStats=false"]
