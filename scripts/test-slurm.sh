#!/usr/bin/env bash
# `just test-slurm` (docs/recipes.md): proves deploy/slurm/*.sbatch on a real one-node Slurm cluster on
# localhost. Needs root (it installs Debian's slurm-wlm and munge when missing) and the demo
# assets (fetched by scripts/demo_assets.sh when missing); builds both binaries in release, in
# $CARGO_TARGET_DIR when set (else target/).
#
# 1. extraction as a 2-task array (--shard auto) of the first $LIMIT demo photos, plus the
#    dependent report job; the union cache must equal a single-process extraction bit for bit;
# 2. a task killed with scancel after its first part and the array resubmitted: the finished
#    parts are not redone (same mtimes, "already done" counts), and the cache is again equal;
# 3. a 2-worker sweep array (--worker auto) plus its report job; the records must equal a
#    `--jobs 1` run of the same sweep;
# 4. a pruned TPE study (`[search]` + `[prune]`) on 2 array tasks sharing one folder: every
#    trial proposed and finished exactly once (journal.jsonl), one record each.
# Everything lives in a temp folder (config, state, logs, caches); munged, slurmctld and slurmd
# run from there and are stopped by process id on exit. KEEP=1 keeps the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIMIT=${LIMIT:-120}          # photos: 6 parts of 20; ~5 images/s on 2 cores
ROWS_PER_PART=20
t0=$(date +%s)
say() { printf '[test-slurm %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# --- prerequisites -------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
[ -f data/demo/food/manifest.csv ] && [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] \
  || bash scripts/demo_assets.sh
bash scripts/setup-dev.sh
PY=$ROOT/.venv/bin/python
say "building marnet-extract and marnet-heads (release)"
cargo build --release --quiet -p marnet-extract -p marnet-heads
bin_dir=${CARGO_TARGET_DIR:-$ROOT/target}/release
[ "${bin_dir#/}" != "$bin_dir" ] || bin_dir=$ROOT/$bin_dir  # a relative CARGO_TARGET_DIR is cargo's, from the root
export MARNET_EXTRACT=$bin_dir/marnet-extract MARNET_HEADS=$bin_dir/marnet-heads

# --- a one-node cluster in a temp folder ---------------------------------------------------
W=$(mktemp -d /tmp/marnet-slurm.XXXXXX)
chmod 755 "$W"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [ "$rc" -ne 0 ]; then
    echo "--- test-slurm failed; logs in $W ---"
    tail -n 20 "$W"/slurmctld.log "$W"/slurmd.log "$W"/logs/*.out 2>/dev/null || true
  elif [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$W"
  fi
}
trap cleanup EXIT

mkdir -p "$W"/munge "$W"/state "$W"/spool "$W"/logs
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge/munge.key"
munged --force --key-file="$W/munge/munge.key" --socket="$W/munge/munge.sock" \
  --pid-file="$W/munge/munged.pid" --log-file="$W/munge/munged.log" --seed-file="$W/munge/munged.seed"
for _ in $(seq 50); do [ -s "$W/munge/munged.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$W/munge/munged.pid")")

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
port=$(( 20000 + ($$ % 10000) * 2 ))
cat > "$W/slurm.conf" <<EOF
ClusterName=marnet-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge/munge.sock
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$W/slurm.conf
slurmctld -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$W/slurmctld.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$W/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$W/slurmd.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$W/slurmd.pid")")
for _ in $(seq 300); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
sinfo -h -o %T | grep -qx idle || { echo "the node never became idle: $(sinfo 2>&1)"; exit 1; }
say "cluster up: slurmctld + slurmd on $host ($cpus CPUs), Slurm $(sinfo --version | cut -d' ' -f2)"

# --- helpers ---------------------------------------------------------------------------------
submit() { sbatch --parsable --chdir="$ROOT" --cpus-per-task=1 --mem=4G --output="$W/logs/%x-%A_%a.out" "$@"; }
wait_gone() {  # wait until no job of the given ids is queued or running
  for _ in $(seq 3000); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  echo "jobs $1 still queued after 10 min"; exit 1
}
state() { scontrol show job "$1" | grep -o 'JobState=[A-Z]*' | sort | uniq -c | tr -s ' ' | tr '\n' ' '; }
expect_completed() {
  if scontrol show job "$1" | grep -o 'JobState=[A-Z]*' | grep -qv COMPLETED; then
    echo "job $1 did not complete: $(state "$1")"; exit 1
  fi
}
mtimes() { (cd "$1" && stat -c '%n %Y.%y' part-*.parquet 2>/dev/null || true); }

extract_args=(--dataset manifest:data/demo/food/manifest.csv
  --image-model data/demo/models/clip-vit-b16-vision --text-model data/demo/models/all-MiniLM-L6-v2
  --limit "$LIMIT" --rows-per-part "$ROWS_PER_PART")

# --- 1. extraction array + report job, against one process ----------------------------------
say "1. extraction: 2-task array of $LIMIT photos (6 parts) + dependent report job"
jid=$(submit --array=0-1 --job-name=extract deploy/slurm/extract.sbatch "${extract_args[@]}" --out "$W/cache-array")
rid=$(submit --dependency=afterok:"$jid" --job-name=extract-report deploy/slurm/extract.sbatch "${extract_args[@]}" --out "$W/cache-array")
wait_gone "$jid,$rid"
expect_completed "$jid"; expect_completed "$rid"
for k in 0 1; do grep -q "shard $k/2 (SLURM_ARRAY_TASK_ID=$k" "$W/logs/extract-${jid}_$k.out" \
  || { echo "task $k did not take shard $k/2:"; cat "$W/logs/extract-${jid}_$k.out"; exit 1; }; done
for k in 0 1; do grep -q "parts: 3 written, 0 already done, 6 in the cache" "$W/logs/extract-${jid}_$k.out"; done
report_log=$(ls "$W"/logs/extract-report-"$rid"_*.out)
grep "parts:" "$report_log"
grep -q "parts: 0 written, 6 already done, 6 in the cache (complete)" "$report_log"
say "   array done; single-process reference extraction"
"$MARNET_EXTRACT" run "${extract_args[@]}" --out "$W/cache-single" --quiet | grep -E "parts:|time:"
"$PY" scripts/compare_runs.py caches "$W/cache-array" "$W/cache-single"

# --- 2. scancel mid-run, resubmit, resume ----------------------------------------------------
say "2. resume: array again, task 0 cancelled after its first part, then the array resubmitted"
jid=$(submit --array=0-1 --job-name=killed deploy/slurm/extract.sbatch "${extract_args[@]}" --out "$W/cache-kill")
for _ in $(seq 3000); do [ -f "$W/cache-kill/part-00000-of-00006.parquet" ] && break; sleep 0.1; done
scancel "${jid}_0"
wait_gone "$jid"
before=$(mtimes "$W/cache-kill")
n_before=$(echo "$before" | grep -c parquet)
echo "   after scancel: $n_before of 6 parts present: $(echo "$before" | cut -d' ' -f1 | tr '\n' ' ')"
[ -f "$W/cache-kill/part-00004-of-00006.parquet" ] \
  && { echo "task 0 finished before it was cancelled: nothing to resume (raise LIMIT)"; exit 1; }
scontrol show job "${jid}_0" | grep -q 'JobState=CANCELLED'
sleep 1.1  # so that a rewritten part would get a later mtime
jid2=$(submit --array=0-1 --job-name=resumed deploy/slurm/extract.sbatch "${extract_args[@]}" --out "$W/cache-kill")
wait_gone "$jid2"; expect_completed "$jid2"
grep "parts:" "$W/logs/resumed-${jid2}_0.out" "$W/logs/resumed-${jid2}_1.out"
done0=$(echo "$before" | grep -cE 'part-0000[024]')
grep -q "parts: $(( 3 - done0 )) written, $done0 already done" "$W/logs/resumed-${jid2}_0.out"
grep -q "parts: 0 written, 3 already done" "$W/logs/resumed-${jid2}_1.out"
while read -r line; do
  [ -n "$line" ] || continue
  now=$(cd "$W/cache-kill" && stat -c '%n %Y.%y' "${line%% *}")
  [ "$now" = "$line" ] || { echo "part rewritten on resume: $line -> $now"; exit 1; }
done <<< "$before"
echo "   the $n_before parts written before the cancel kept their mtimes; task 0 wrote $(( 3 - done0 )), task 1 none"
"$PY" scripts/compare_runs.py caches "$W/cache-kill" "$W/cache-single"

# --- 3. sweep array + report job, against --jobs 1 --------------------------------------------
say "3. sweep: 2-worker array + dependent report job, and a --jobs 1 reference"
cat > "$W/sweep.toml" <<'EOF'
seeds = 1
mode = "fusion"
[fixed]
epochs = 8
phase2_epochs = 8
[grid]
d = [64, 128]
fusion = ["concat", "hm"]
EOF
sweep_args=(--cache "$W/cache-single" --sweep "$W/sweep.toml")
jid=$(submit --array=0-1 --job-name=sweep deploy/slurm/sweep.sbatch "${sweep_args[@]}" --out "$W/sweep-array")
rid=$(submit --dependency=afterok:"$jid" --job-name=sweep-report deploy/slurm/sweep.sbatch "${sweep_args[@]}" --out "$W/sweep-array")
wait_gone "$jid,$rid"
expect_completed "$jid"; expect_completed "$rid"
for k in 0 1; do grep -q "worker $k/2 (SLURM_ARRAY_TASK_ID=$k" "$W/logs/sweep-${jid}_$k.out"; done
report_log=$(ls "$W"/logs/sweep-report-"$rid"_*.out)
grep -q "this worker: 4 runs assigned, 4 already done, 0 trained" "$report_log"
grep -q "leaderboard" "$report_log"
"$MARNET_HEADS" sweep "${sweep_args[@]}" --out "$W/sweep-single" --jobs 1 --quiet
"$PY" scripts/compare_runs.py sweeps "$W/sweep-array" "$W/sweep-single"

# --- 4. a pruned TPE study shared by 2 array tasks ------------------------------------------
say "4. study: TPE + ASHA, 2 array tasks on one folder + the report job"
cat > "$W/study.toml" <<'EOF'
seeds = 1
mode = "ema"
[fixed]
epochs = 9
[search]
sampler = "tpe"
trials = 8
seed = 0
startup_trials = 3
lr = { min = 1e-4, max = 1e-2, scale = "log" }
d = { choices = [64, 128] }
[prune]
rule = "asha"
min_epochs = 1
reduction_factor = 3
EOF
study_args=(--cache "$W/cache-single" --sweep "$W/study.toml" --out "$W/study")
jid=$(submit --array=0-1 --job-name=study deploy/slurm/sweep.sbatch "${study_args[@]}")
rid=$(submit --dependency=afterok:"$jid" --job-name=study-report deploy/slurm/sweep.sbatch "${study_args[@]}")
wait_gone "$jid,$rid"
expect_completed "$jid"; expect_completed "$rid"
# One study: 8 trials proposed once each, each finished once, one record per trial.
J=$W/study/journal.jsonl
[ "$(grep -c '"event":"trial"' "$J")" = 8 ]
[ "$(grep -o '"event":"trial","trial":[0-9]*' "$J" | sort -u | wc -l)" = 8 ]
[ "$(grep -c '"event":"done"' "$J")" = 8 ]
[ "$(grep -o '"event":"done","trial":[0-9]*' "$J" | sort -u | wc -l)" = 8 ]
[ "$(ls "$W"/study/trials/*.json | wc -l)" = 8 ]
grep -q "trial-epochs (phase 1) spent against" "$W/study/leaderboard.md"

say "PASS: array extraction = one process, scancel + resubmit resumes, sweep array = --jobs 1, one TPE+ASHA study over 2 tasks"
