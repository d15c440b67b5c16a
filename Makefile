# Basin — the two commands: `make demo` and `make test` (see README.md).
# Each first installs what is missing (Debian packages, NumPy for the interop tests),
# then builds and runs.

SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev libarchive-dev libpng-dev libcairo2-dev libdnnl-dev \
                fonts-dejavu-core pkg-config dataset-fashion-mnist chromium \
                slurm-wlm munge
export OPENBLAS_NUM_THREADS ?= 2
DEMO_OUT ?= out/demo

.PHONY: all deps build release test demo bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh $(APT_PACKAGES)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) build --package-path examples/swift-custom-analyzer
	# One BLAS thread: suites run concurrently, and a thread count flipping under a running
	# analysis would change its last bits (the analyzer contract demands byte-identical reruns).
	OPENBLAS_NUM_THREADS=1 BASIN_STRICT_TESTS=1 $(SWIFT) test --skip-build

demo: release
	@bash scripts/demo.sh "$(DEMO_OUT)"

# basin-bench writes the SVCCA activations, the Hessian and landscape models and data and the
# ONNX section's inputs and values (about 1.3 GB of .npy) to $(BASIN_BENCH_DIR) for the NumPy
# and PyTorch references; they are deleted at the end unless KEEP_BENCH_FILES=1. Every side
# appends its timings to $(BASIN_BENCH_DIR)/results/<section>.jsonl (format: bench/summary.py),
# and bench/summary.py prints them last as one table (Basin beside its peers, ratio last).
# One section alone: `make bench BENCH_ARGS=onnx` (sections: checkpoint loaders numerics train
# landscape svcca hessian align onnx conv). BENCH_ROUNDS=3 runs Basin and the references three times
# in turn, so their repetitions interleave and the table's medians and ranges pool all rounds.
export BASIN_BENCH_DIR ?= /tmp/basin-bench
BENCH_ROUNDS ?= 1
bench: release
	@mkdir -p "$(BASIN_BENCH_DIR)"; rm -rf "$(BASIN_BENCH_DIR)/results"
	@for round in $$(seq $(BENCH_ROUNDS)); do \
	  $(SWIFT) run -c release --skip-build basin-bench $(BENCH_ARGS) || exit 1; \
	  if python3 -c 'import numpy' 2>/dev/null; then echo; python3 bench/numpy_reference.py $(BENCH_ARGS) || exit 1; \
	  else echo "(NumPy not installed: skipping the NumPy reference)"; fi; \
	  if python3 -c 'import numpy' 2>/dev/null; then echo; python3 bench/torch_hessian_reference.py $(BENCH_ARGS) || exit 1; fi; \
	  if python3 -c 'import scipy' 2>/dev/null; then echo; python3 bench/scipy_align_reference.py $(BENCH_ARGS) || exit 1; \
	  else echo "(SciPy not installed: skipping the SciPy alignment reference)"; fi; \
	  if python3 -c 'import torch' 2>/dev/null && [ -f "$(BASIN_BENCH_DIR)/basin-bench-conv/basin.json" ]; then echo; \
	    BASIN_BENCH_BINARY=.build/release/basin-bench python3 bench/torch_conv_reference.py || exit 1; fi; \
	  if python3 -c 'import torch' 2>/dev/null; then echo; python3 bench/torch_io_reference.py $(BENCH_ARGS) || exit 1; fi; \
	  if python3 -c 'import torch, onnx' 2>/dev/null; then echo; python3 bench/torch_onnx_reference.py $(BENCH_ARGS) || exit 1; \
	  else echo "(PyTorch or onnx not installed: skipping the PyTorch ONNX reference)"; fi; \
	done
	@python3 bench/summary.py
	@if [ "$(KEEP_BENCH_FILES)" != 1 ]; then rm -rf "$(BASIN_BENCH_DIR)/basin-bench-svcca" "$(BASIN_BENCH_DIR)/basin-bench-hessian" \
	  "$(BASIN_BENCH_DIR)/basin-bench-landscape" "$(BASIN_BENCH_DIR)/basin-bench-onnx" "$(BASIN_BENCH_DIR)/basin-bench-conv" \
	  "$(BASIN_BENCH_DIR)/basin-bench-align"; fi

# libFuzzer on every reader of user files (docs/RELIABILITY.md): FUZZ_SECONDS per target,
# FUZZ_JOBS targets at once; `make fuzz FUZZ_TARGETS="npy npz"` for a subset.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS ?= checkpoint manifest npy npz safetensors idx csv modelspec onnx
fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf .build out
