# tests/dist/slurm.sh - tools/slurm_train.sh under a real Slurm on this machine: munged, slurmctld and
# slurmd are started here (in the foreground of this script, as root, config, state, logs and the munge
# socket in OUT_DIR; nothing is installed or written outside it, except that a socket directory moves to
# /tmp when OUT_DIR's path is too long for a Unix socket), the script trains LeNet5 on a
# Fashion-MNIST subset with 2 CPU tasks (--launcher slurm), and the daemons are stopped at the end.
# Skipped (status 77), with the reason, when not root, and outside CI without slurm-wlm/munge (tools/setup.sh
# installs them) or when the daemons do not come up. Under CI=true (lib.sh) those last two fail, with the
# daemons' logs: a broken slurm.conf or munge setup must not pass as a skip.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "slurmd must run as root to start tasks (this is uid $(id -u))"
for b in munged munge unmunge slurmctld slurmd srun sinfo setpriv; do
    command -v $b >/dev/null || [ -x /usr/sbin/$b ] || missing "$b is not installed (tools/setup.sh installs slurm-wlm and munge)"
done
id munge >/dev/null 2>&1 || missing "no munge user (the munge package creates it)"
PATH=$PATH:/usr/sbin

S=$OUT/slurm
# A Unix socket's path has at most 107 bytes: munge's socket and slurmd's spool (its steps' sockets) go to
# a short directory of their own, removed at the end, when OUT_DIR's path is long (a long build folder).
SOCK=$S
[ ${#S} -le 48 ] || SOCK=$(mktemp -d /tmp/tgc-slurm.XXXXXX)
mkdir -p "$S/munge" "$SOCK/msock" "$S/state" "$SOCK/spool" "$S/log"
chmod 755 "$OUT" "$S" "$SOCK"
DAEMONS=""
# The daemons' own logs and their stdout/stderr, for a daemon that did not come up.
daemon_logs() {
    for f in "$S/munge/munged.log" "$S/munge/munged.out" "$S/log/slurmctld.log" "$S/log/slurmctld.out" \
        "$S/log/slurmd.log" "$S/log/slurmd.out"; do
        [ -s "$f" ] || continue
        echo "---- $f (last 25 lines)"
        tail -25 "$f"
    done
}
# A daemon did not come up: the test fails under CI=true, and is skipped elsewhere; both print the logs.
not_up() {
    if under_ci; then
        fail "$* (CI=true: a daemon that does not start is a failure, not a skip)
$(daemon_logs)"
    fi
    daemon_logs
    skip "$*"
}
# NAME PID WHEN: a daemon that has exited will not come up.
check_running() {
    kill -0 "$2" 2>/dev/null && return 0
    st=0
    wait "$2" 2>/dev/null || st=$?
    not_up "$1 exited (status $st) $3"
}
stop_daemons() {
    for p in $DAEMONS; do kill "$p" 2>/dev/null || true; done
    for p in $DAEMONS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [ "$SOCK" = "$S" ] || rm -rf "$SOCK"
    cleanup
}
trap stop_daemons EXIT

# munge: a fresh key and socket of this test's own, the daemon as the munge user
dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 2>/dev/null
chown -R munge:munge "$S/munge" "$SOCK/msock"
chmod 711 "$S/munge"
chmod 755 "$SOCK/msock"
chmod 400 "$S/munge/munge.key"
setpriv --reuid=munge --regid=munge --init-groups munged -F --socket="$SOCK/msock/munge.sock" --key-file="$S/munge/munge.key" \
    --log-file="$S/munge/munged.log" --pid-file="$S/munge/munged.pid" --seed-file="$S/munge/munged.seed" \
    >"$S/munge/munged.out" 2>&1 &
MUNGED=$!
DAEMONS="$DAEMONS $MUNGED"
i=0
until munge -S "$SOCK/msock/munge.sock" -n 2>/dev/null | unmunge -S "$SOCK/msock/munge.sock" >/dev/null 2>&1; do
    check_running munged $MUNGED "before a credential round trip"
    [ $i -lt 300 ] || not_up "munged did not come up in 3 s (munge -n | unmunge fails)"
    sleep 0.01
    i=$((i + 1))
done

H=$(hostname)
cat >"$S/slurm.conf" <<CONF
ClusterName=tgctest
SlurmctldHost=$H
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK/msock/munge.sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$S/state
SlurmdSpoolDir=$SOCK/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$H CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES State=UP
CONF
export SLURM_CONF=$S/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$S/log/slurmctld.out" 2>&1 &
CTLD=$!
DAEMONS="$DAEMONS $CTLD"
slurmd -D -f "$SLURM_CONF" >"$S/log/slurmd.out" 2>&1 &
SLURMD=$!
DAEMONS="$DAEMONS $SLURMD"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
    check_running slurmctld $CTLD "before the node was idle"
    check_running slurmd $SLURMD "before the node was idle"
    [ $i -lt 150 ] || not_up "slurmctld/slurmd did not come up in 15 s (sinfo: $(sinfo -h -o '%N %t' 2>&1 | head -2))"
    sleep 0.1
    i=$((i + 1))
done
echo "munged, slurmctld and slurmd up: $(sinfo -h -o 'partition %P, node %N %t, %c CPUs')"

# The MM script with 2 CPU tasks on one node: no GPU gres, --device cpu.
OPTS="$DATAOPTS train_dataloader.batch_size=64 val_dataloader.batch_size=64 train_dataloader.dataset.indices=2048
 val_dataloader.dataset.indices=500 train_cfg.max_epochs=1 randomness.seed=5 default_hooks.logger.interval=8"
# shellcheck disable=SC2086
GPUS=2 GPUS_PER_NODE=2 CPUS_PER_TASK=1 GRES= PORT=$(free_port) SRUN_ARGS="--time=5" TGC=$TGC timeout 120 \
    bash "$SRC/tools/slurm_train.sh" debug tgc_slurm_test "$SRC/configs/fashion/lenet5_fashionmnist.yaml" work \
    --device cpu --cfg-options $OPTS >train.txt 2>&1 || fail "slurm_train.sh: $(tail -5 train.txt)"

grep -q "Distributed: 2 processes (--launcher slurm), gloo collectives, rendezvous at $H:" train.txt ||
    fail "not a 2-process slurm job: $(grep -m2 mmengine train.txt)"
grep -q "Epoch(train) \[1\]\[16/16\]" train.txt || fail "not 16 iterations of 2 x 64: $(grep Epoch train.txt | tail -2)"
grep -q "Epoch(val) \[1\]\[4/4\]" train.txt || fail "no validation"
[ "$(grep -c 'Epoch(train) \[1\]\[16/16\]' train.txt)" = 1 ] || fail "more than one rank logged"
[ -s work/epoch_1.ckpt ] && [ "$(cat work/last_checkpoint)" = work/epoch_1.ckpt ] || fail "no checkpoint in work/"
log=$(ls work/*/*.log)
grep -q "Training finished: 16 iterations" "$log" || fail "rank 0's log $log is incomplete"
echo "ok: $(grep -o 'accuracy/top1: [0-9.]*' train.txt)"
