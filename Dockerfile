# syntax=docker/dockerfile:1
# Terminology service image: gunicorn + Flask on a slim Python 3.11, bundled content baked in.
# Build: docker build -t terminology:0.1.0 .   Run: docker run -p 8000:8000 terminology:0.1.0

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# Dependencies first (their own layer), at the exact versions of the lock file.
COPY requirements.lock /src/requirements.lock
RUN /opt/venv/bin/pip install --requirement /src/requirements.lock
# The package (hatchling builds it; the content folders become its package data).
COPY pyproject.toml README.md /src/
COPY codesystems /src/codesystems
COPY valuesets /src/valuesets
COPY conceptmaps /src/conceptmaps
COPY terminology /src/terminology
RUN /opt/venv/bin/pip install --no-deps /src \
    && /opt/venv/bin/python -m compileall -q /opt/venv

FROM python:3.11.14-slim-bookworm
RUN groupadd --system --gid 10001 terminology \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin terminology \
    && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /opt/venv /opt/venv
# The bundled content (CPT/HCPCS/LOINC fragments, value sets, concept maps), read-only.
COPY codesystems /app/content/codesystems
COPY valuesets /app/content/valuesets
COPY conceptmaps /app/content/conceptmaps
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TERMINOLOGY_BIND=0.0.0.0:8000 \
    TERMINOLOGY_CONTENT_DIRS=/app/content/codesystems:/app/content/valuesets:/app/content/conceptmaps \
    TERMINOLOGY_DATA_DIR=/data
# Fixed numeric UID so Kubernetes runAsNonRoot can verify it; writes go only to /tmp and /data.
USER 10001:10001
WORKDIR /app
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4)"]
CMD ["terminology", "serve"]
