#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] [TARGET...] - runs every libFuzzer harness (fuzz/fuzz_*.c) for SECONDS each (default 60).
#
# Builds them with Debian's clang and libFuzzer (clang, libclang-rt-14-dev; tools/setup.sh installs both) in
# $TGC_FUZZ_BUILD (default build-fuzz/ in the repository), -fsanitize=fuzzer,address,undefined. Each target
# starts from its seed corpus fuzz/corpus/NAME plus the inputs earlier runs found (BUILD/corpus/NAME, kept
# out of the tree) and stops at the first crash, leak or timeout: the reproducer is written to
# BUILD/crashes/NAME/ and the script fails. A crash becomes a regression input in fuzz/regressions/NAME/
# (replayed by ctest's fuzz/replay/NAME in every build) with its fix.
# Prints one line per target: executions, exec/s, coverage (edges) and features, corpus size.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
build=${TGC_FUZZ_BUILD:-$root/build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pickle pth safetensors ckpt plan cfg cfg_options cfg_py idx image store coco lists cifar)

cc=$(command -v clang || command -v clang-14 || true)
cxx=$(command -v clang++ || command -v clang++-14 || true)
fuzzer_lib=$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -1 || true)
if [ -z "$cc" ] || [ -z "$cxx" ] || [ -z "$fuzzer_lib" ]; then
  case "${CI:-}" in
  true | TRUE | True | 1) echo "fuzz: clang or libFuzzer is missing (tools/setup.sh installs clang and libclang-rt-14-dev)" >&2
    exit 1 ;;
  esac
  echo "skipped: clang or libFuzzer is missing (tools/setup.sh installs clang and libclang-rt-14-dev)"
  exit 77
fi
# Configured every time (seconds once cached), so a harness added since the last run is known to the build.
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DTGC_FUZZ=ON -DTGC_TESTS=OFF \
  -DTGC_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 1; }
names=()
for t in "${targets[@]}"; do names+=("fuzz_$t"); done
nice cmake --build "$build" -j"${TGC_FUZZ_JOBS:-2}" --target "${names[@]}" >"$build/build.log" 2>&1 ||
  { tail -40 "$build/build.log" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
printf '%-12s %10s %8s %8s %8s %8s\n' target execs exec/s cov ft corpus
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t crashes=$build/crashes/$t log=$build/logs/$t.log
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  rc=0
  seeds=("$root/fuzz/corpus/$t")
  [ -d "$root/fuzz/regressions/$t" ] && seeds+=("$root/fuzz/regressions/$t")
  (cd "$crashes" && "$build/fuzz/fuzz_$t" "$corpus" "${seeds[@]}" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 >"$log" 2>&1) || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-12s %10s %8s %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -8 >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (reproducers under $build/crashes/, logs under $build/logs/)" >&2
  exit 1
fi
