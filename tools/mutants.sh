#!/usr/bin/env bash
# tools/mutants.sh - plants each bug listed in tests/mutants.txt into a scratch copy of the tree, rebuilds
# incrementally, runs the tests named for it, and prints which mutants the suite catches and which survive.
#
#   tools/mutants.sh                 every mutant
#   tools/mutants.sh ID [ID ...]     only these
#   tools/mutants.sh --list          the ids, files and tests, without running anything
#
# A mutant is caught when one of its tests fails (a build error is reported apart: it says the mutation
# no longer fits the code, not that a test caught it). A mutant whose `find` text is not in its file
# exactly once is 'stale': the code moved on and the entry must be updated. The scratch copy lives in
# $TGC_MUTANTS_DIR (default ${TMPDIR:-/tmp}/tgc-mutants) and keeps its build between runs. Not part of CI
# (minutes per mutant on two cores): run it before resolving test work and after large changes.
# Exit status: 0 when every mutant was caught, 1 otherwise.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
list=$src/tests/mutants.txt
scratch=${TGC_MUTANTS_DIR:-${TMPDIR:-/tmp}/tgc-mutants}
jobs=$(nproc)

# The list: blocks of 'key: value' lines separated by blank lines; '#' starts a comment line.
#   id:      a short name
#   file:    the file to mutate, relative to the repository root
#   find:    the exact text to replace (\n for a line break, \t for a tab); must occur exactly once
#   replace: the text put in its place (same escapes)
#   tests:   a ctest -R regular expression naming the tests that must catch it
#   why:     the bug it stands for (printed in --list)
parse() {
    /usr/bin/python3 - "$list" <<'PY'
import sys
blocks, cur = [], {}
for n, line in enumerate(open(sys.argv[1]), 1):
    s = line.rstrip("\n")
    if s.startswith("#"):
        continue
    if not s.strip():
        if cur:
            blocks.append(cur)
            cur = {}
        continue
    k, sep, v = s.partition(": ")
    if not sep and s.endswith(":"):
        k, v = s[:-1], ""
    elif not sep:
        sys.exit("%s:%d: expected 'key: value', got %r" % (sys.argv[1], n, s))
    if k not in ("id", "file", "find", "replace", "tests", "why"):
        sys.exit("%s:%d: unknown key %r" % (sys.argv[1], n, k))
    cur[k] = v
    cur.setdefault("_line", n)
if cur:
    blocks.append(cur)
seen = set()
for b in blocks:
    for k in ("id", "file", "find", "replace", "tests"):
        if k not in b:
            sys.exit("%s:%d: mutant has no %s" % (sys.argv[1], b["_line"], k))
    if b["id"] in seen:
        sys.exit("%s:%d: duplicate id %s" % (sys.argv[1], b["_line"], b["id"]))
    seen.add(b["id"])
    print("\x1f".join([b["id"], b["file"], b["find"], b["replace"], b["tests"], b.get("why", "")]))
PY
}

# apply FILE FIND REPLACE: replaces the one occurrence; exit 3 if it is not there exactly once.
apply() {
    /usr/bin/python3 - "$@" <<'PY'
import sys
path, find, repl = sys.argv[1:4]
unesc = lambda s: s.replace("\\n", "\n").replace("\\t", "\t")
find, repl = unesc(find), unesc(repl)
text = open(path).read()
n = text.count(find)
if n != 1:
    print("'find' occurs %d times in %s" % (n, path), file=sys.stderr)
    sys.exit(3)
open(path, "w").write(text.replace(find, repl))
PY
}

mapfile -t entries < <(parse)
[ ${#entries[@]} -gt 0 ] || { echo "mutants: $list lists no mutant" >&2; exit 1; }

if [ "${1:-}" = "--list" ]; then
    for e in "${entries[@]}"; do
        IFS=$'\x1f' read -r id file _ _ tests why <<<"$e"
        printf '%-28s %-34s %-40s %s\n' "$id" "$file" "$tests" "$why"
    done
    exit 0
fi

want=("$@")
selected=()
for e in "${entries[@]}"; do
    id=${e%%$'\x1f'*}
    if [ ${#want[@]} -eq 0 ]; then
        selected+=("$e")
    else
        for w in "${want[@]}"; do [ "$w" = "$id" ] && selected+=("$e"); done
    fi
done
[ ${#selected[@]} -gt 0 ] || { echo "mutants: no mutant named ${want[*]}" >&2; exit 1; }

echo "mutants: scratch copy in $scratch"
mkdir -p "$scratch"
# A fresh copy each run (mtimes kept, so the scratch build stays incremental for unchanged files).
rm -rf "$scratch/src"
mkdir -p "$scratch/src"
tar -C "$src" --exclude='./build*' --exclude=./.git --exclude=./work_dirs --exclude=./.venv -cf - . |
    tar -C "$scratch/src" -xf -
[ -e "$src/.venv" ] && ln -sfn "$src/.venv" "$scratch/src/.venv"
cmake -S "$scratch/src" -B "$scratch/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTGC_CUDA=OFF >/dev/null
echo "mutants: building the unmutated tree"
cmake --build "$scratch/build" -j"$jobs" >"$scratch/build.log" 2>&1 ||
    { tail -20 "$scratch/build.log"; echo "mutants: the unmutated tree does not build" >&2; exit 1; }

results=()
survivors=0
for e in "${selected[@]}"; do
    IFS=$'\x1f' read -r id file find repl tests _ <<<"$e"
    t0=$(date +%s)
    target=$scratch/src/$file
    log=$scratch/$id.log
    if [ ! -f "$target" ]; then
        results+=("$id|$file|STALE|no such file|0")
        survivors=$((survivors + 1))
        continue
    fi
    cp "$target" "$scratch/orig"
    if ! apply "$target" "$find" "$repl" 2>"$log"; then
        results+=("$id|$file|STALE|$(cat "$log")|0")
        survivors=$((survivors + 1))
        continue
    fi
    printf 'mutants: %-28s building ... ' "$id"
    if ! cmake --build "$scratch/build" -j"$jobs" >"$log" 2>&1; then
        status="BUILD-ERROR"
        by="$(grep -m1 'error' "$log" || true)"
        survivors=$((survivors + 1))
    else
        printf 'testing (%s) ... ' "$tests"
        set +e
        (cd "$scratch/build" && ctest -R "$tests" --timeout 300 -j"$jobs") >"$log" 2>&1
        rc=$?
        set -e
        failed=$(sed -n '/The following tests FAILED/,$p' "$log" | grep -Eo '[^ ]+ \((Failed|Timeout|SEGFAULT|Subprocess aborted|Child aborted|Exception)' |
                 sed 's/ (.*//' | sort -u | paste -sd, - || true)
        if grep -q 'No tests were found' "$log"; then
            status="NO-TESTS"
            by="ctest -R '$tests' matches nothing"
            survivors=$((survivors + 1))
        elif [ $rc -ne 0 ]; then
            status="caught"
            by=${failed:-"ctest status $rc"}
        else
            status="SURVIVED"
            by="all passed: $(grep -Eo "out of [0-9]+" "$log" | head -1 || true)"
            survivors=$((survivors + 1))
        fi
    fi
    # Restore with a fresh mtime so the next build recompiles the file.
    cp "$scratch/orig" "$target"
    touch "$target"
    dt=$(($(date +%s) - t0))
    echo "$status (${dt}s)"
    results+=("$id|$file|$status|$by|$dt")
done
echo "mutants: rebuilding the unmutated tree"
cmake --build "$scratch/build" -j"$jobs" >"$scratch/build.log" 2>&1 || true

echo
printf '| %-28s | %-34s | %-11s | %s |\n' "mutant" "file" "result" "caught by"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..30})" "$(printf -- '-%.0s' {1..36})" "$(printf -- '-%.0s' {1..13})" "---"
for r in "${results[@]}"; do
    IFS='|' read -r id file status by dt <<<"$r"
    printf '| %-28s | %-34s | %-11s | %s |\n' "$id" "$file" "$status" "$by"
done
echo
echo "mutants: ${#results[@]} run, $((${#results[@]} - survivors)) caught, $survivors not caught"
[ $survivors -eq 0 ]
