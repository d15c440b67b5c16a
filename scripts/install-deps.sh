#!/usr/bin/env bash
# Installs the Debian packages Basin needs, if any are missing, NumPy (used by the
# interop tests to prove that NumPy reads what Basin writes) and onnx + onnxruntime
# (ONNX Runtime is the live reference for Basin's graph evaluation).
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "basin: installing missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"
  else
    echo "basin: cannot install ${missing[*]}: not root and no password-less sudo." >&2
    echo "basin: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if command -v python3 >/dev/null; then
  if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "basin: installing NumPy for the interop tests"
    python3 -m pip install -q numpy || echo "basin: warning: NumPy could not be installed; interop tests will fail" >&2
  fi
  # ONNX Runtime evaluates the ONNX fixtures live (BN statistics recomputed by Basin); onnx edits them.
  if ! python3 -c 'import onnx, onnxruntime' 2>/dev/null; then
    echo "basin: installing onnx and onnxruntime for the ONNX tests"
    python3 -m pip install -q onnx onnxruntime || echo "basin: warning: onnx/onnxruntime could not be installed; ONNX runtime tests will fail" >&2
  fi
fi
