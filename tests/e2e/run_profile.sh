# tests/e2e/run_profile.sh - `tgc run --profile`: the dumps exist, trace.json parses and holds one kernel event
# per train instruction per profiled step, inside that step's span; the per-op table adds up.
. "$(dirname "$0")/lib.sh"

"$TGC" inspect --json lenet.bin >plan.json || fail "inspect"

# 6 iterations of 4 per epoch: warm-up step 1, steps 2..5 profiled; validation after epoch 1 falls inside
# the window (its kernels are "eval" rows), --max-iters stops the run after it.
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir w --max-iters 6 --profile prof --profile-steps 4 --cfg-options $SMALL \
    >stdout.txt 2>stderr.txt || fail "run: $(cat stderr.txt)"
grep -q "Profile of [0-9]* events written to prof/rank0" stdout.txt || fail "no profile line: $(tail -3 stdout.txt)"
for f in trace.json op_summary.txt op_summary.json memory.json memory.txt; do
    [ -s "prof/rank0/$f" ] || fail "missing prof/rank0/$f"
done

python3 - plan.json prof/rank0 <<'PY' || fail "profile dumps"
import collections, json, sys
plan = json.load(open(sys.argv[1]))
d = sys.argv[2]
n_instr = plan["programs"]["train"]["ops"]
trace = json.load(open(d + "/trace.json"))
ev = [e for e in trace["traceEvents"] if e["ph"] == "X"]
other = trace["otherData"]
assert other["rank"] == 0 and other["steps_profiled"] == 4 and other["warmup_steps"] == 1, other
assert other["dropped_events"] == 0, other
steps = {e["name"]: e for e in ev if e["cat"] == "step"}
assert sorted(steps) == ["step 2", "step 3", "step 4", "step 5"], sorted(steps)
per_step = collections.defaultdict(list)
for e in ev:
    if e["cat"] == "kernel" and e["args"]["program"] == "train":
        per_step[e["args"]["step"]].append(e)
assert sorted(per_step) == [2, 3, 4, 5], sorted(per_step)
for s, ks in per_step.items():
    # one event per instruction, in program order, within the step's span
    assert [k["args"]["instr"] for k in ks] == list(range(n_instr)), (s, len(ks), n_instr)
    span = steps["step %d" % s]
    assert all(span["ts"] - 1 <= k["ts"] and k["ts"] + k["dur"] <= span["ts"] + span["dur"] + 1 for k in ks), s
evals = [e for e in ev if e["cat"] == "kernel" and e["args"]["program"] == "eval"]
assert evals, "no eval kernels from the validation inside the window"
tracks = {e["cat"] for e in ev}
assert {"kernel", "step", "data", "hooks"} <= tracks, tracks
assert {e["name"] for e in ev if e["cat"] == "hooks"} >= {"logging", "checkpoint", "validation"}
summ = json.load(open(d + "/op_summary.json"))
text = open(d + "/op_summary.txt").read()
assert "conv2d" in text and "eval/conv2d" in text, text[:400]
calls = sum(1 for e in ev if e["cat"] == "kernel")
assert sum(o["calls"] for o in summ["ops"]) == calls, (summ["total"], calls)
assert abs(sum(o["share_pct"] for o in summ["ops"]) - 100) < 0.1, summ["ops"]
train_calls = {o["op"]: o["calls"] for o in summ["ops"] if o["program"] == "train"}
assert sum(train_calls.values()) == 4 * n_instr, (train_calls, n_instr)
assert ("%d kernel calls" % calls) in text, (calls, text.splitlines()[0])
print("ok: %d train instructions x %d steps, %d kernel events" % (n_instr, len(per_step), calls))
PY

# --profile-steps alone is a usage error.
set +e
"$TGC" run lenet.bin --profile-steps 3 >/dev/null 2>err.txt
rc=$?
set -e
[ $rc = 2 ] && grep -q -- "--profile-steps needs --profile DIR" err.txt || fail "--profile-steps alone: rc $rc, $(cat err.txt)"
echo "ok"
