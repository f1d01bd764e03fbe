# The model API as a container: `docker build -t gitops-ml .` then
#   docker run -p 8000:8000 -e MLFLOW_TRACKING_URI=http://mlflow:5000 gitops-ml
# serves models:/<registry.model_name>@champion and follows the alias (see docs/serving.md).
# Pin the base image by digest in your registry (FROM python:3.11-slim@sha256:...).

# ---- build: install the locked dependencies and the package into /opt/venv
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1
WORKDIR /src
COPY requirements/bootstrap.txt requirements/requirements.txt requirements/
# The installer (uv) lives in a throw-away venv; only /opt/venv goes to the runtime image.
# Every package is pinned by hash; setuptools comes from the lock too (no build isolation),
# so nothing unpinned enters the image.
RUN python -m venv /opt/installer \
 && /opt/installer/bin/pip install --require-hashes --no-deps -r requirements/bootstrap.txt \
 && python -m venv /opt/venv \
 && /opt/installer/bin/uv pip install --python /opt/venv/bin/python \
      --require-hashes -r requirements/requirements.txt
COPY pyproject.toml README.md ./
COPY src/ src/
RUN /opt/installer/bin/uv pip install --python /opt/venv/bin/python \
      --no-deps --no-build-isolation .

# ---- runtime: the venv, params.yaml, an unprivileged user
FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    OMP_NUM_THREADS=1
WORKDIR /app
COPY params.yaml ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
ENTRYPOINT ["gitops-ml", "serve", "--host", "0.0.0.0", "--port", "8000"]
# Extra arguments, e.g. `--model models:/churn-classifier/3` or a mounted .skops file.
CMD []
