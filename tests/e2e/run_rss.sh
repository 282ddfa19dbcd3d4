# tests/e2e/run_rss.sh - memory stays flat over a run: the resident set size of `tgc run` sampled at the
# end of each of 6 epochs does not grow after the second epoch's end by more than 4 MiB (allocator noise; a
# leak of one batch per iteration would add more). An epoch's end is seen as its checkpoint r/epoch_N.ckpt
# appearing (the log is buffered when it goes to a file). The checkpoint is written before the epoch's
# validation, so the first sample may or may not include the validation loader's buffers, depending on how
# soon the poll sees it on a busy machine: the baseline is the second sample, taken after one validation.
# RSS_EPOCHS=N, RSS_IMAGES=M and RSS_PLAN=PLAN (another Fashion-MNIST plan) make a longer run for a report.
. "$(dirname "$0")/lib.sh"
epochs=${RSS_EPOCHS:-6}
images=${RSS_IMAGES:-2048}
# shellcheck disable=SC2086
"$TGC" run "${RSS_PLAN:-lenet.bin}" --work-dir r --cfg-options $SMALL train_dataloader.dataset.indices=$images \
    train_cfg.max_epochs=$epochs >r.txt 2>&1 &
pid=$!
seen=0
rss=()
while [ -e /proc/$pid ] && [ "$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -c1)" != Z ]; do
    n=$(ls r 2>/dev/null | grep -c '^epoch_[0-9]*\.ckpt$' || true)
    if [ "$n" -gt "$seen" ]; then
        kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status 2>/dev/null || true)
        [ -n "$kb" ] && rss+=("$kb")
        seen=$n
    fi
    sleep 0.02
done
wait $pid || fail "the run failed: $(tail -3 r.txt)"
[ ${#rss[@]} -ge 3 ] || fail "only ${#rss[@]} RSS samples over $epochs epochs (the run was too fast to sample?)"
echo "RSS at the end of each epoch (KiB): ${rss[*]}"
first=${rss[1]}
for kb in "${rss[@]:1}"; do
    [ $((kb - first)) -le 4096 ] || fail "RSS grew from $first KiB (second epoch) to $kb KiB over the run: ${rss[*]}"
done
echo "ok: flat within 4 MiB"
