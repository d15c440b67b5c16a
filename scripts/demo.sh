#!/usr/bin/env bash
# `make demo`: trains small versions of the papers' runs on Fashion-MNIST, analyses them and
# writes a report (see `analyze demo --help`). Interrupt it and run it again: finished work is kept.
set -euo pipefail
out="${1:-out/demo}"
analyze="$(swift build -c release --show-bin-path)/analyze"
"$analyze" demo --out "$out" ${DEMO_ARGS:-}
