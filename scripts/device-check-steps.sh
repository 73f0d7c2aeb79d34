# The steps of scripts/device-check.sh (sourced; it sets device, ordinal, size, py, bin, work,
# logs, results, fixtures, jobs and the functions dc and record). Each step records its rows.

# Sizes per --size: parity PNGs, speed JPEGs (width x height), extraction batch, heads caches,
# fine-tuning images and steps.
if [ "$size" = full ]; then
  n_png=256 n_jpg=4096 jpg_w=512 jpg_h=384 batch=256 hf_iters=20
  heads_rows=(--n-train 4000 --n-val 800 --n-test 800 --classes 20 --d-v 768 --d-s 384)
  vireo_rows=(--n-train 66071 --n-val 11016 --n-test 33154 --classes 172 --d-v 768 --d-s 384)
  ft_rows=(--n-train 2048 --n-val 512 --n-test 512 --size 224) ft_steps=300 ft_lr=3e-4 ft_dtype=bf16
else
  n_png=24 n_jpg=64 jpg_w=64 jpg_h=48 batch=16 hf_iters=2
  heads_rows=(--n-train 300 --n-val 60 --n-test 60 --classes 5 --d-v 32 --d-s 16)
  vireo_rows=(--n-train 600 --n-val 120 --n-test 120 --classes 20 --d-v 32 --d-s 16)
  ft_rows=(--n-train 400 --n-val 100 --n-test 100 --size 32) ft_steps=130 ft_lr=1e-3 ft_dtype=f32
fi
# The reduced-precision leg: bf16 on a GPU; candle's CPU conv2d has no bf16 kernel, so the CPU dry
# run takes f16 through the same code.
[ -n "$ordinal" ] && low=bf16 || low=f16
# Heads: short schedules (the check is device parity, not accuracy); the same flags on both devices.
heads_set=(--set epochs=8 --set phase2_epochs=8 --set min_steps=0 --set patience=0)
has_hf=0
"$py" -c 'import torch, transformers' 2>/dev/null && has_hf=1

# Peak device memory while a step runs: nvidia-smi sampled every 200 ms (all processes on it).
monitor_pid=""
monitor_start() {
  [ -n "$ordinal" ] || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$ordinal" -lms 200 > "$work/.mem" 2>/dev/null &
  monitor_pid=$!
}
monitor_stop() {
  [ -n "$monitor_pid" ] || { echo null; return; }
  kill "$monitor_pid" 2>/dev/null; wait "$monitor_pid" 2>/dev/null; monitor_pid=""
  local peak; peak=$(sort -n "$work/.mem" | tail -1 | tr -d ' ')
  [[ "$peak" =~ ^[0-9]+$ ]] && echo "$peak" || echo null
}
# json KEY VALUE ...: a flat JSON object of numbers / null (the figures of a row).
json() { "$py" -c 'import json, sys; a = sys.argv[1:]; print(json.dumps({a[i]: json.loads(a[i + 1]) for i in range(0, len(a), 2)}))' "$@"; }
# merge JSON JSON: the union of two figure objects.
merge() { "$py" -c 'import json, sys; print(json.dumps({**json.loads(sys.argv[1]), **json.loads(sys.argv[2])}))' "$1" "$2"; }

step_environment() {
  local gpu="CPU dry run (no GPU used)" env libs missing
  if [ -n "$ordinal" ]; then
    if ! gpu=$(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader -i "$ordinal" 2>&1); then
      record "environment" FAIL "nvidia-smi: $gpu"; echo "device-check: no CUDA device" >&2; exit 2
    fi
  fi
  env=$(dc cuda-env) || { record "environment" FAIL "tools/device_check.py cuda-env failed"; return 1; }
  echo "$env" | tee "$logs/environment.log"
  libs=$(sed -n 's/^LD_LIBRARY_PATH=//p' <<<"$env")
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ -z "$bin" ]; then
    bin="$work/bin"
    dc unpack "$here/bin" "$bin" >> "$logs/environment.log" 2>&1 \
      || { record "environment" FAIL "unpacking the kit's binaries failed: $(tail -1 "$logs/environment.log")"; return 1; }
  fi
  for b in marnet-extract marnet-heads; do
    [ -x "$bin/$b" ] || { record "environment" FAIL "$bin/$b missing"; return 1; }
    ldd "$bin/$b" >> "$logs/environment.log" 2>&1
  done
  missing=$(ldd "$bin/marnet-extract" "$bin/marnet-heads" 2>&1 | grep 'not found' | awk '{print $1}' | sort -u | tr '\n' ' ')
  local versions; versions=$(sed -n 's/^version: //p' <<<"$env" | grep -v '^nvidia-cu[fs]' | paste -sd ';' | sed 's/;/; /g')
  if [ -n "$missing" ]; then
    record "environment" FAIL "$gpu; libraries not found: $missing; $versions"; return 1
  fi
  [ "$has_hf" = 1 ] || versions="$versions; no torch/transformers in $py: baseline steps SKIP"
  record "environment ($device)" pass "$gpu; $versions"
}

# extract NAME DATASET_MANIFEST IMAGE_MODEL TEXT_MODEL DTYPE [FLAGS...]: marnet-extract run into
# work/caches/NAME, log in logs/extract-NAME.log; prints its figures JSON; status 1 on failure.
extract() {
  local name=$1 manifest=$2 image=$3 text=$4 dtype=$5; shift 5
  rm -rf "$work/caches/$name"
  "$bin/marnet-extract" run --dataset "manifest:$manifest" --image-model "$image" --text-model "$text" \
    --out "$work/caches/$name" --device "$device" --dtype "$dtype" --quiet "$@" > "$logs/extract-$name.log" 2>&1 || return 1
  dc extract-figures "$logs/extract-$name.log"
}

step_tiny_parity() {
  local tiny="$work/tiny" spec model key dtype cmp ok flag
  rm -rf "$tiny"; dc tiny-dataset "$fixtures" "$tiny" > /dev/null
  # MODEL:POOLING:GOLDEN_KEY — DINOv2's `cls` pooling is its pooler_output (the final LayerNorm of
  # the class token), SigLIP's default is the attention-pooling head's pooler_output.
  for spec in vit:cls:cls clip:image_embeds:image_embeds dinov2:cls:pooler_output siglip:pooler_output:pooler_output; do
    IFS=: read -r model key golden_key <<<"$spec"
    for dtype in f32 $low; do
      [ "$dtype" = f32 ] && flag=(--max-abs 1e-4) || flag=(--min-cosine 0.999)
      if extract "tiny-$model-$dtype" "$tiny/manifest.jsonl" "$fixtures/$model" "$fixtures/bert" "$dtype" \
          --image-pooling "$key" --batch-size 4 > /dev/null; then
        cmp=$(dc compare-golden "$work/caches/tiny-$model-$dtype" "$tiny/rows.json" "$fixtures/golden" "$model" "$golden_key" "${flag[@]}" 2>&1)
        ok=$?
      else
        cmp="marnet-extract failed: $(tail -1 "$logs/extract-tiny-$model-$dtype.log")"; ok=1
      fi
      record "tiny parity $model $key + bert, $dtype" "$( [ $ok = 0 ] && echo pass || echo FAIL)" "$cmp"
    done
  done
}

step_full_parity_and_speed() {
  local models="$work/models" png="$work/png" jpg="$work/jpg" dtype min figs cmp ok peak hf
  if [ "$has_hf" = 0 ]; then
    record "parity + speed, random $size models" SKIP "no torch/transformers in $py"; return
  fi
  rm -rf "$models" "$png" "$jpg"
  if ! { dc make-models "$models" --size "$size" --seed 0 --fixtures "$fixtures" \
         && dc photos "$png" --n "$n_png" --width "$jpg_w" --height "$jpg_h" --ext png --seed 1 --jobs "$jobs" \
         && dc photos "$jpg" --n "$n_jpg" --width "$jpg_w" --height "$jpg_h" --ext jpg --seed 2 --jobs "$jobs" \
         && dc reference "$models" "$png/manifest.jsonl" "$work/reference.npz" --device "$device" --batch 64; } \
       > "$logs/make-inputs.log" 2>&1; then
    record "random $size models, images, transformers f32 reference" FAIL "$(tail -1 "$logs/make-inputs.log")"; return
  fi
  for spec in f32:0.9999 $low:0.999; do
    dtype=${spec%%:*} min=${spec#*:}
    if extract "png-$dtype" "$png/manifest.jsonl" "$models/clip" "$models/bert" "$dtype" --batch-size "$batch" > /dev/null; then
      cmp=$(dc compare-reference "$work/caches/png-$dtype" "$work/reference.npz" --min-cosine "$min" 2>&1); ok=$?
    else
      cmp="marnet-extract failed: $(tail -1 "$logs/extract-png-$dtype.log")"; ok=1
    fi
    record "parity vs transformers f32, $n_png PNGs, $dtype" "$( [ $ok = 0 ] && echo pass || echo FAIL)" "$cmp"
    monitor_start
    figs=$(extract "jpg-$dtype" "$jpg/manifest.jsonl" "$models/clip" "$models/bert" "$dtype" --batch-size "$batch")
    ok=$?; peak=$(monitor_stop)
    if [ $ok = 0 ]; then
      record "marnet-extract $dtype, $n_jpg JPEGs ${jpg_w}x${jpg_h}, batch $batch" pass \
        "end to end incl. texts; model images/s = images / image-forward s" "$(merge "$figs" "$(json peak_gpu_mib "$peak")")"
    else
      record "marnet-extract $dtype, $n_jpg JPEGs, batch $batch" FAIL "$(tail -1 "$logs/extract-jpg-$dtype.log")"
    fi
  done
  monitor_start
  hf=$(dc hf-speed "$models" "$jpg/manifest.jsonl" --device "$device" --batch "$batch" --workers "$jobs" --iters "$hf_iters" 2> "$logs/hf-speed.log")
  ok=$?; peak=$(monitor_stop)
  if [ $ok = 0 ]; then
    record "transformers bf16 SDPA, same JPEGs, batch $batch" pass "PIL CLIPImageProcessorPil in a DataLoader, $jobs workers" \
      "$(merge "$(tail -1 <<<"$hf")" "$(json peak_gpu_mib "$peak")")"
  else
    record "transformers bf16 SDPA, batch $batch" FAIL "$(tail -1 "$logs/hf-speed.log")"
  fi
}

# train_heads NAME DEVICE CACHE SEEDS MODE [FLAGS...]: marnet-heads train into work/runs/NAME.
train_heads() {
  local name=$1 dev=$2 cache=$3 seeds=$4 mode=$5; shift 5
  rm -rf "$work/runs/$name"
  "$bin/marnet-heads" train --cache "$cache" --out "$work/runs/$name" --mode "$mode" --seeds "$seeds" --device "$dev" \
    "${heads_set[@]}" "$@" > "$logs/heads-$name.log" 2>&1
}

step_heads() {
  local cache="$work/caches/heads" vireo="$work/caches/vireo" cmp ok spe peak
  rm -rf "$cache" "$vireo"
  if ! dc synth-cache "$cache" --template "$work/caches/tiny-clip-f32" "${heads_rows[@]}" --seed 3 > "$logs/synth-cache.log" 2>&1; then
    record "heads: synthetic cache" FAIL "$(tail -1 "$logs/synth-cache.log")"; return
  fi
  if ! train_heads cpu cpu "$cache" 3 all; then
    record "heads train --mode all, cpu, 3 seeds" FAIL "$(tail -1 "$logs/heads-cpu.log")"; return
  fi
  monitor_start
  train_heads dev "$device" "$cache" 3 all; ok=$?; peak=$(monitor_stop)
  if [ $ok = 0 ]; then
    cmp=$("$py" "$here/tools/gpu_check.py" compare-heads "$work/runs/cpu" "$work/runs/dev" 2>&1); ok=$?
    echo "$cmp" > "$logs/heads-compare.log"
    record "heads train --mode all, $device vs cpu, 3 seeds" "$( [ $ok = 0 ] && echo pass || echo FAIL)" \
      "$(paste -sd ';' <<<"$cmp" | sed 's/;/; /g')" "$(json peak_gpu_mib "$peak")"
  else
    record "heads train --mode all, $device, 3 seeds" FAIL "$(tail -1 "$logs/heads-dev.log")"
  fi
  if ! dc synth-cache "$vireo" --template "$work/caches/tiny-clip-f32" "${vireo_rows[@]}" --seed 4 >> "$logs/synth-cache.log" 2>&1; then
    record "heads: Vireo-size synthetic cache" FAIL "$(tail -1 "$logs/synth-cache.log")"; return
  fi
  monitor_start
  train_heads vireo "$device" "$vireo" 1 fusion --set epochs=3 --set phase2_epochs=1; ok=$?; peak=$(monitor_stop)
  spe=$("$py" "$here/tools/gpu_check.py" epoch-seconds "$logs/heads-vireo.log" "$work/runs/vireo" 2>&1)
  if [ $ok = 0 ] && [[ "$spe" == \{* ]]; then
    record "heads fusion s/epoch, ${vireo_rows[1]}/${vireo_rows[3]}/${vireo_rows[5]} rows, $device" pass \
      "aim on a GPU: <= 1 s/epoch (mode seconds / epochs run)" \
      "$(json s_per_epoch "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["fusion"])' "$spe")" peak_gpu_mib "$peak")"
  else
    record "heads fusion, Vireo size, $device" FAIL "$(tail -1 "$logs/heads-vireo.log")"
  fi
}

step_finetune() {
  local data="$work/patterns" model tb t0 secs steps figs="{}" cmp ok peak
  if [ "$size" = full ]; then
    [ "$has_hf" = 1 ] && [ -f "$work/models/clip/config.json" ] \
      || { record "finetune learns" SKIP "needs the random CLIP ViT-B/16 (transformers)"; return; }
    model="$work/models/clip"
  else
    model="$fixtures/vit"
  fi
  rm -rf "$data"; dc patterns "$data" "${ft_rows[@]}" --seed 5 --jobs "$jobs" > /dev/null
  for tb in true false; do
    rm -rf "$work/runs/ft-$tb"
    monitor_start; t0=$(date +%s.%N)
    "$bin/marnet-heads" finetune --dataset "manifest:$data/manifest.jsonl" --image-model "$model" --out "$work/runs/ft-$tb" \
      --epochs 10 --max-steps "$ft_steps" --batch-size 32 --eval-batch-size 128 --backbone-lr "$ft_lr" \
      --device "$device" --dtype "$ft_dtype" --train-image-backbone "$tb" --quiet > "$logs/finetune-$tb.log" 2>&1
    ok=$?; peak=$(monitor_stop); secs=$("$py" -c "import time; print(round(time.time() - $t0, 2))")
    if [ $ok != 0 ]; then
      record "finetune $device $ft_dtype, backbone trainable=$tb" FAIL "$(tail -1 "$logs/finetune-$tb.log")"; return
    fi
    steps=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps_done"])' "$work/runs/ft-$tb/finetune.json")
    figs=$(merge "$figs" "$(json "steps_per_s_trainable_$tb" "$("$py" -c "print(round($steps / $secs, 2))")" "peak_gpu_mib_trainable_$tb" "$peak")")
  done
  cmp=$(dc finetune-learns "$work/runs/ft-true" "$work/runs/ft-false" --min-gap 20 2>&1); ok=$?
  record "finetune learns: $(basename "$model") $ft_dtype, $ft_steps steps, stripes" "$( [ $ok = 0 ] && echo pass || echo FAIL)" \
    "$cmp (steps/s includes evaluation)" "$figs"
}
