#!/usr/bin/env bash
# tools/test.sh - sets up, builds and runs every test: the normal build (unit, FileCheck, end to end)
# and the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# A test whose prerequisite is missing (the dataset, slurm, TensorBoard or pycocotools in .venv:
# tools/setup.sh installs them) exits 77 and ctest reports it skipped, with its reason listed at the end of each run; with CI=true
# in the environment (CI services and .ci/run set it) such a test fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/setup.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTGC_SANITIZE=ON -DTGC_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"

# The 'skipped: REASON' lines of the tests of the last ctest run in build dir $1, after the test's name.
skip_reasons() {
  awk '/^[0-9]+\/[0-9]+ Test: /{t=$3} /(^|: )skipped: /{print "  " t ": " $0}' \
    "$1/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u || true
}

case "${CI:-}" in true | TRUE | True | 1) echo "== CI=true: a test whose prerequisite is missing fails instead of being skipped ==" ;; esac
status=0
echo "== tests (RelWithDebInfo build) =="
(cd build && ctest --output-on-failure -j"$jobs") || status=1
skip_reasons build
# Evidence in the log that the checks needing installed services ran (ctest shows passing tests' output
# only in its log file): TensorBoard's reader and the slurm daemons.
grep -h -E "^(test_rt_tensorboard: TensorBoard's EventAccumulator read|TensorBoard \(|munged, slurmctld and slurmd up)" \
  build/Testing/Temporary/LastTest.log 2>/dev/null | cut -c1-160 | sed 's/^/  ran: /' || true
echo "== unit tests under ASan/UBSan =="
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -R '^unit/') || status=1
skip_reasons build-asan
exit $status
