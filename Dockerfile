# segmentd container image. Build from the repository root:
#   docker build -t segmentd --build-arg SEGMENTD_VERSION="$(git describe --always --dirty)" .
# or use docker/compose.yaml (see docker/README.md).

# --- build stage -------------------------------------------------------------------------
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        libmicrohttpd-dev libjansson-dev libuv1-dev libpq-dev libssl-dev libcsv-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .git is not in the build context, so the version comes from a build argument.
ARG SEGMENTD_VERSION=unknown
RUN make VERSION="$SEGMENTD_VERSION" build/segmentd

# --- runtime stage -----------------------------------------------------------------------
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libuv1 libpq5 libssl3 libcsv3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin segmentd
COPY --from=build /src/build/segmentd /usr/local/bin/segmentd
USER segmentd
ENV SEGMENTD_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["segmentd"]
CMD ["serve"]
