#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer harness (fuzz/, address sanitizer + coverage) and runs
# each target for SECONDS, FUZZ_JOBS targets at a time. Seeds: fuzz/corpus/<target>/
# (committed); inputs the fuzzer finds interesting: out/fuzz/corpus/<target>/; crashes,
# hangs (> 10 s) and allocations above 1 GiB: out/fuzz/crashes/<target>/. A crasher, once
# fixed, goes into fuzz/regressions/<target>/ so `make test` replays it for ever.
# Usage: scripts/fuzz.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}; shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkpoint manifest npy npz safetensors idx csv modelspec onnx)
jobs=${FUZZ_JOBS:-2}
rt=$(ls -d /opt/swift/usr/lib/clang/*/lib/linux 2>/dev/null | head -n 1)
[ -f "$rt/libclang_rt.fuzzer_no_main-x86_64.a" ] || rt=$(dirname "$(swiftc -print-target-info >/dev/null 2>&1; command -v swiftc)")/../lib/clang/$(ls "$(dirname "$(command -v swiftc)")/../lib/clang" | head -n 1)/lib/linux
echo "basin: building the fuzz harness (release, address sanitizer, coverage)"
# SwiftPM gives an executable its own main, so the harness links libFuzzer's driver without
# its main and calls LLVMFuzzerRunDriver itself.
swift build --package-path fuzz -c release --product basin-fuzz \
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
  -Xlinker --whole-archive -Xlinker "$rt/libclang_rt.fuzzer_no_main-x86_64.a" -Xlinker --no-whole-archive \
  -Xlinker -lstdc++ 2>&1 | grep -vE "^\[|Cannot export local symbol" || exit 1
bin=fuzz/.build/release/basin-fuzz
[ -x "$bin" ] || { echo "basin: the fuzz harness did not build" >&2; exit 1; }

run_one() {
  local t=$1 corpus=out/fuzz/corpus/$1 crashes=out/fuzz/crashes/$1/ log=out/fuzz/$1.log
  mkdir -p "$corpus" "$crashes"
  # detect_leaks=0: Foundation's FileManager.contents leaks a page on empty files (not ours);
  # SWIFT_BACKTRACE=enable=no: the Swift backtracer would report its own reads as ASan errors.
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=64 BASIN_FUZZ_TARGET=$t \
    "$bin" "$corpus" "fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -detect_leaks=0 -print_final_stats=1 \
    -artifact_prefix="$crashes" > "$log" 2>&1
  local status=$? runs
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  local found; found=$(ls "$crashes" 2>/dev/null | wc -l)
  printf '%-12s %8ss %12s runs  %3s findings  exit %s  (log %s)\n' "$t" "$seconds" "${runs:-?}" "$found" "$status" "$log"
}
export -f run_one; export bin seconds
mkdir -p out/fuzz
echo "basin: fuzzing ${targets[*]} for ${seconds}s each, $jobs at a time"
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}' | tee out/fuzz/summary.txt
if grep -vq ' 0 findings  exit 0 ' out/fuzz/summary.txt; then
  echo "basin: the fuzzers found problems: see out/fuzz/crashes/" >&2; exit 1
fi
echo "basin: no crash, hang or allocation above 1 GiB"
