# Container images of the three orderguard binaries, one target each:
#   docker build --target operator --build-arg VERSION=0.1.0 -t <registry>/orderguard-operator:0.1.0 .
#   docker build --target webhook  --build-arg VERSION=0.1.0 -t <registry>/orderguard-webhook:0.1.0 .
#   docker build --target agent    --build-arg VERSION=0.1.0 -t <registry>/orderguard-agent:0.1.0 .
# Multi-stage: everything is compiled in `build`; the runtime stages hold only
# the binary and the shared libraries it loads, and run as non-root (the agent
# runs as root because it reads every process's /proc entries; see the chart).

ARG DEBIAN=debian:12

FROM ${DEBIAN} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libcpprest-dev libboost-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev \
      nlohmann-json3-dev libre2-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
      libmimalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    && cmake --build /build --target orderguard-operator orderguard-webhook orderguard-agent \
    && strip /build/operator/orderguard-operator /build/webhook/orderguard-webhook \
             /build/agent/orderguard-agent

FROM ${DEBIAN}-slim AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcpprest2.10 libyaml-cpp0.7 libprometheus-cpp-core1.0 libre2-9 libssl3 \
      libmimalloc2.0 \
    && rm -rf /var/lib/apt/lists/*
ARG VERSION=dev
LABEL org.opencontainers.image.title="orderguard" org.opencontainers.image.version="${VERSION}"

FROM runtime AS operator
COPY --from=build /build/operator/orderguard-operator /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/orderguard-operator"]

FROM runtime AS webhook
COPY --from=build /build/webhook/orderguard-webhook /usr/local/bin/
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/orderguard-webhook"]

FROM runtime AS agent
COPY --from=build /build/agent/orderguard-agent /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/orderguard-agent"]
CMD ["run"]
