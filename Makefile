# orderguard developer entry points. `make demo` and `make test` work on a fresh
# machine: both install what is missing first (scripts/deps.sh is idempotent).
SHELL := /bin/bash
PRESET ?= dev
JOBS ?= $(shell nproc)
BUILD_DIR := build/$(PRESET)
TOOLS_BIN = $(shell e2e/tools/build.sh)
CLUSTER_DIR := $(CURDIR)/.cluster
# Let ccache share objects between clones of the repository (CI builds a fresh
# clone each time): paths are made relative to the clone.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps build test unit-test e2e-test asan-test bench cluster-up cluster-down \
        demo demo-down images images-check format format-check chart-crds clean

all: build

deps:
	@scripts/deps.sh

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET) >/dev/null

build: deps $(BUILD_DIR)/build.ninja
	cmake --build --preset $(PRESET) -j $(JOBS)

# Every test: unit tests, then the e2e tests against a real kube-apiserver (the
# node tests and the demo test on a real node, from the images built here).
test: build images
	ORDERGUARD_TOOLS_BIN=$(TOOLS_BIN) ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

unit-test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L unit

e2e-test: build images
	ORDERGUARD_TOOLS_BIN=$(TOOLS_BIN) ctest --test-dir $(BUILD_DIR) --output-on-failure -L e2e

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan-test: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	LSAN_OPTIONS=suppressions=$(CURDIR)/cmake/lsan.supp ctest --preset asan -j $(JOBS)

bench:
	$(MAKE) PRESET=release build
	ORDERGUARD_TOOLS_BIN=$(TOOLS_BIN) scripts/bench.sh build/release

# A local cluster for people: kubeconfig at .cluster/kubeconfig.
# NODE=0: the control plane only (no kubelet, no host changes, no images).
NODE ?= 1
cluster-up: build $(if $(filter 1,$(NODE)),images)
	$(BUILD_DIR)/e2e/orderguard-cluster up --dir $(CLUSTER_DIR) --tools $(TOOLS_BIN) \
	  $(if $(filter 1,$(NODE)),--node --images $${ORDERGUARD_CACHE:-$$HOME/.cache/orderguard}/images)

cluster-down:
	@if [[ -x $(BUILD_DIR)/e2e/orderguard-cluster ]]; then \
	  $(BUILD_DIR)/e2e/orderguard-cluster down --dir $(CLUSTER_DIR); \
	else echo "no cluster tool built; nothing to stop"; fi

demo: build images
	ORDERGUARD_TOOLS_BIN=$(TOOLS_BIN) BUILD_DIR=$(BUILD_DIR) scripts/demo.sh

demo-down:
	BUILD_DIR=$(BUILD_DIR) scripts/demo-down.sh

# Container images of the three binaries, built with buildah from the Dockerfile
# without any registry (the base images are made with mmdebstrap), and the test
# node's images (pause, testbox, batch-worker, order-app, and the tiers' Redis and
# MariaDB); storage, caches and OCI archives under ~/.cache/orderguard
# (images/*.oci.tar, what the test node imports).
# Needs root. Only the Debian packages: not the C++ build, not the Go tools.
images:
	@scripts/deps.sh --no-tools
	scripts/images.sh build --jobs $(JOBS)

images-check:
	scripts/check_images.sh

# crds/ is the single source of the CRDs; the chart carries copies (a chart
# cannot read files outside its directory), which chart_template_test checks.
chart-crds:
	rm -rf charts/orderguard/files/crds
	mkdir -p charts/orderguard/files/crds
	cp -R crds/. charts/orderguard/files/crds/

format:
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

format-check: deps
	git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf build
