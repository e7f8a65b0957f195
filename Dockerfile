# syntax=docker/dockerfile:1
# One image for every Deleton service; the command chooses which:
#   docker run IMAGE ingest | dashboard | api | compress | report --send | db init
# Build: docker build -t deleton .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN python -m venv /opt/deleton
# the package alone: no tests, no benchmarks, no .env (see .dockerignore)
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/deleton/bin/pip install ".[aws]"

FROM python:3.11-slim-bookworm
ENV PATH=/opt/deleton/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DELETON_HOME=/var/lib/deleton \
    DELETON_DASHBOARD_HOST=0.0.0.0 \
    DELETON_API_HOST=0.0.0.0 \
    DELETON_METRICS_HOST=0.0.0.0
# Inside a container the listeners must face its network; the container's own ports and the
# load balancer's security group are what keep them private.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/deleton --create-home deleton \
    && install -d -o deleton -g deleton /var/lib/deleton/outbox /var/lib/deleton/reports
COPY --from=build /opt/deleton /opt/deleton
USER 10001:10001
WORKDIR /var/lib/deleton
EXPOSE 8000 8050 9100
ENTRYPOINT ["deleton"]
CMD ["--help"]
