# The imgcloud image: one image, three services (`backend`, `worker`, `frontend`),
# chosen by the command Nomad passes. Configuration comes only from IMGCLOUD_*
# environment variables at run time; nothing about S3 or RabbitMQ is baked in.
#
#   docker build -t imgcloud:0.1.0 .                                  # python:3.11-slim
#   docker build --build-arg BASE_IMAGE=imgcloud-lab/base:bookworm .  # the lab's Debian
#   docker build --target unready -t imgcloud:0.1.0-broken .          # fails its checks
#
# The lab's base is a debootstrapped Debian without Python, so the first stage
# installs Debian's python3 and venv when the base has none.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
RUN if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Build stage: dependencies first (their layer survives code changes), then the
# package itself, into a venv the runtime stage copies whole.
FROM base AS build
# CAs the build host trusts on top of Debian's (a TLS-intercepting proxy's, say),
# PEM text; they stay in this stage and never reach the runtime image.
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
        printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt \
        && update-ca-certificates >/dev/null; \
    fi
RUN python3 -m venv /opt/imgcloud
ENV PATH=/opt/imgcloud/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
COPY pyproject.toml README.md* ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt
COPY apps ./apps
RUN pip install --no-deps . && imgcloud --help >/dev/null

FROM base AS runtime
RUN groupadd --system --gid 10001 imgcloud \
    && useradd --system --uid 10001 --gid imgcloud --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin imgcloud
COPY --from=build /opt/imgcloud /opt/imgcloud
ENV PATH=/opt/imgcloud/bin:$PATH \
    IMGCLOUD_BIND=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["imgcloud"]
CMD ["backend"]
# Last, so a new version only adds this metadata on top of unchanged layers: a
# rolling update pulls kilobytes, not the whole venv again.
ARG VERSION=unknown
LABEL org.opencontainers.image.title="imgcloud" \
      org.opencontainers.image.description="Image hosting and resizing: backend, worker, frontend" \
      org.opencontainers.image.version="${VERSION}"

# A deliberately broken release for the auto-revert test: the same image whose
# processes never answer, so every Consul check (/healthz, /readyz) fails and
# Nomad's deployment must roll back. Never the default target.
FROM runtime AS unready
ENTRYPOINT ["/bin/sh", "-c", "exec sleep infinity", "--"]

# The default target: what `docker build .` produces.
FROM runtime
