# syntax=docker/dockerfile:1
# Container images of the three orderguard binaries, one target each:
#   docker build --target operator --build-arg VERSION=0.1.0 -t <registry>/orderguard-operator:0.1.0 .
#   docker build --target webhook  --build-arg VERSION=0.1.0 -t <registry>/orderguard-webhook:0.1.0 .
#   docker build --target agent    --build-arg VERSION=0.1.0 -t <registry>/orderguard-agent:0.1.0 .
# `make images` (scripts/images.sh) builds the same targets with buildah and no
# registry at all: it makes the two FROM images locally with mmdebstrap.
# Multi-stage: everything is compiled in `build`; the runtime stages hold only
# the binary and the shared libraries it loads (scripts/check_images.sh checks
# that), and run as non-root (the agent runs as root because it reads every
# process's /proc entries; see the chart).

ARG DEBIAN=debian:12

FROM ${DEBIAN} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config ca-certificates \
      libboost-dev libssl-dev zlib1g-dev libyaml-cpp-dev prometheus-cpp-dev \
      nlohmann-json3-dev libre2-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
      libmimalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The context is filtered by .dockerignore (no build trees, VCS, docs or chart),
# so edits outside the C++ tree leave this layer and the compile below cached.
COPY . .
# Compiler parallelism (empty: one job per CPU).
ARG JOBS=""
# What --version prints. The context has no .git (.dockerignore), so the commit comes in as
# an argument (scripts/images.sh passes `git rev-parse HEAD`); without it: "unknown". An
# empty VERSION means the project's version (CMakeLists.txt).
ARG VERSION=""
ARG GIT_COMMIT=""
# ccache (found by CMakeLists.txt) keeps its objects in a cache mount that
# outlives the layers: when the compile step reruns after a source change, only
# the changed translation units are compiled again. The mount is BuildKit syntax
# that buildah (1.24+) understands too. The build tree is removed at the end so
# the layer holds only the three stripped binaries in /out, and their SHA-256
# digests: the agent never reports a process running one of them
# (agent/exclusions.h, --trusted-binaries).
RUN --mount=type=cache,id=orderguard-ccache,target=/root/.ccache \
    export CCACHE_DIR=/root/.ccache CCACHE_MAXSIZE=2G \
    && ccache --zero-stats >/dev/null \
    && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DORDERGUARD_GIT_COMMIT="${GIT_COMMIT}" ${VERSION:+-DORDERGUARD_VERSION="${VERSION}"} \
    && cmake --build /build -j "${JOBS:-$(nproc)}" \
         --target orderguard-operator orderguard-webhook orderguard-agent \
    && ccache --show-stats \
    && mkdir -p /out \
    && strip -o /out/orderguard-operator /build/operator/orderguard-operator \
    && strip -o /out/orderguard-webhook /build/webhook/orderguard-webhook \
    && strip -o /out/orderguard-agent /build/agent/orderguard-agent \
    && (cd /out && sha256sum orderguard-operator orderguard-webhook orderguard-agent \
          >orderguard-binaries.sha256) \
    && rm -rf /build

# The libraries all three binaries load (ca-certificates: the trust store for a
# kubeconfig whose server has a publicly trusted certificate and no CA data).
FROM ${DEBIAN}-slim AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libyaml-cpp0.7 libprometheus-cpp-core1.0 libssl3 \
    && rm -rf /var/lib/apt/lists/*
ARG VERSION=dev
LABEL org.opencontainers.image.title="orderguard" org.opencontainers.image.version="${VERSION}"

FROM runtime AS operator
COPY --from=build /out/orderguard-operator /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/orderguard-operator"]

# The webhook also loads RE2 (the policy's patterns) and mimalloc (its malloc).
FROM runtime AS webhook
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libre2-9 libmimalloc2.0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/orderguard-webhook /usr/local/bin/
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/orderguard-webhook"]

# The agent also loads RE2 (the process scan's patterns).
FROM runtime AS agent
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libre2-9 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/orderguard-agent /usr/local/bin/
COPY --from=build /out/orderguard-binaries.sha256 /usr/local/share/orderguard/binaries.sha256
ENTRYPOINT ["/usr/local/bin/orderguard-agent"]
CMD ["run"]
