#!/usr/bin/env bash
# `make demo`: the best end-to-end path that exists today (issue 8 replaces it with
# `analyze demo`): import two PyTorch-style state dicts written by NumPy into a run
# directory, inspect them, compare them with the norms analyzer, and print where
# the results are.
set -euo pipefail
out="${1:-out/demo}"
analyze="$(swift build -c release --show-bin-path)/analyze"
rm -rf "$out"
mkdir -p "$out"
"$analyze" import fixtures/interop/state_dict --run "$out/run" --epoch 1 --learning-rate 0.1
"$analyze" import fixtures/interop/state_dict_later --run "$out/run" --epoch 2 --learning-rate 0.1
"$analyze" inspect "$out/run/checkpoints/epoch-0002.ckpt"
"$analyze" norms "$out/run" --epochs 1,2
"$analyze" inspect "$out/run"
echo
echo "Demo results: $out/run/analyses/norms-1-2/result.json and norms.csv"
