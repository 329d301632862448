# RPM Explorer for a class: the Streamlit app on CPU torch, the shipped example runs, hosted-demo limits, a health check.
#   docker build -t rpm-explorer .
#   docker run -d --name rpm-explorer --restart unless-stopped -p 8501:8501 -v rpm-data:/data rpm-explorer
# then open http://localhost:8501. Limits are environment variables (docs/APP.md, "Hosting for a class"); override any
# with -e RPM_MAX_...=N. The volume keeps the run store and the compiled kernels across containers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# CPU-only torch first (~865 MB installed, instead of the multi-GB CUDA build); requirements.txt's range then accepts it.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.txt .
# g++ builds the fused CPU encoder kernels (rpm_engine/fast.py); without it the engine falls back to stock PyTorch.
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/* \
    && pip install -r requirements.txt

# The app: engine, UI helpers, pages, Streamlit settings and the shipped runs (assets/store, a few hundred KB).
COPY rpm_engine/ rpm_engine/
COPY rpm_service/ rpm_service/
COPY explorer/ explorer/
COPY pages/ pages/
COPY app.py ./
COPY .streamlit/config.toml .streamlit/config.toml
COPY assets/ assets/

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
    && chown -R rpm /data
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
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", \
     "--browser.gatherUsageStats=false"]
