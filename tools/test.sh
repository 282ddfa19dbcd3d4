#!/usr/bin/env bash
# tools/test.sh - sets up, builds and runs every test: the normal build (unit, FileCheck, end to end)
# and the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/setup.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTGC_SANITIZE=ON -DTGC_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"

status=0
echo "== tests (RelWithDebInfo build) =="
(cd build && ctest --output-on-failure -j"$jobs") || status=1
echo "== unit tests under ASan/UBSan =="
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -R '^unit/') || status=1
exit $status
