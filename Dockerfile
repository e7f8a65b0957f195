# One image for every Deleton service; the command chooses which:
#   docker run IMAGE ingest | dashboard | api | compress | report --send | db init
# Build: docker build --platform linux/amd64 -t deleton .
#
# Everything installed is pinned: the base by digest, every package by the hashes in
# requirements/image.lock (make lock), the project itself without dependencies on top.
# BASE_IMAGE: python:3.11-slim-bookworm; tests/deploy builds on a local stand-in of it.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN python -m venv /opt/deleton
COPY requirements/image.lock ./
RUN /opt/deleton/bin/pip install --require-hashes -r image.lock
# the package alone: no tests, no benchmarks, no .env (see .dockerignore)
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/deleton/bin/pip install --no-deps --no-build-isolation . \
    && /opt/deleton/bin/pip check

FROM ${BASE_IMAGE}
ENV PATH=/opt/deleton/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DELETON_HOME=/var/lib/deleton \
    MPLCONFIGDIR=/var/lib/deleton/.matplotlib \
    DELETON_DASHBOARD_HOST=0.0.0.0 \
    DELETON_API_HOST=0.0.0.0 \
    DELETON_METRICS_HOST=0.0.0.0
# Inside a container the listeners must face its network; the container's own ports and the
# load balancer's security group are what keep them private.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/deleton --create-home deleton \
    && install -d -o deleton -g deleton /var/lib/deleton/outbox /var/lib/deleton/reports
COPY --from=build /opt/deleton /opt/deleton
# the RDS CA bundle (deploy/deploy.sh fetches it): the database URLs' sslrootcert
COPY deploy/ca/ /opt/deleton/ca/
USER 10001:10001
WORKDIR /var/lib/deleton
# The root file system is read-only on ECS; the home is a volume. Declared here, a fresh volume
# starts as a copy of this folder, owned by 10001 (Fargate's bind mounts too), not root's.
VOLUME /var/lib/deleton
EXPOSE 8000 8050 9100
ENTRYPOINT ["deleton"]
CMD ["--help"]
