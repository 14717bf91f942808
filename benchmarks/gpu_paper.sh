#!/usr/bin/env bash
# The paper config's GPU figures (issue 15): seconds per training step at batch 2 and per
# sample (30 steps, CFG, decode), bf16, eager and compiled, and the layouts beside the default.
# Needs proav installed and one CUDA device. Each part has its own time limit, so a slow
# compile leaves the other parts' JSON behind.
#   benchmarks/gpu_paper.sh OUT_DIR [SECONDS_FOR_ALL [PART ...]]
# PARTs (default: all, in this order): eager compile padding-compute stack-packed
#   compile-network cudagraphs-sample cudagraphs-compute cudagraphs-step cudagraphs-packed eager-batch8
# Writes OUT_DIR/bench-paper-bf16-PART.json (proav bench's report) and OUT_DIR/*.log.
set -u
out=${1:?usage: benchmarks/gpu_paper.sh OUT_DIR [SECONDS_FOR_ALL [PART ...]]}
budget=${2:-540}
shift $(( $# < 2 ? $# : 2 ))
parts=("$@")
(( ${#parts[@]} )) || parts=(eager compile padding-compute stack-packed compile-network
                             cudagraphs-sample cudagraphs-compute cudagraphs-step cudagraphs-packed eager-batch8)
mkdir -p "$out"
start=$(date +%s)
cfg=configs/generator_paper.toml
common=(--accelerator cuda --precision bf16-mixed --batch-size 2)
gen_only=(--skip autoencoder)
sample_only=(--skip autoencoder --skip generator)
cudagraphs=(--compile --compile-scope cudagraphs --no-flops)  # FLOP/s from the analytic count

# bench NAME LIMIT ARGS...: one `proav bench` call, skipped when less than LIMIT seconds are left
bench() {
    local name=$1 limit=$2; shift 2
    local remaining=$(( budget - ($(date +%s) - start) ))
    if (( remaining < limit )); then
        echo "== $name skipped: ${remaining} s left, needs ${limit} s" | tee -a "$out/summary.log"
        return
    fi
    echo "== $name (limit ${limit} s, ${remaining} s left)" | tee -a "$out/summary.log"
    local t0; t0=$(date +%s)
    timeout "$limit" python3 -m proav_core bench "$cfg" "${common[@]}" "$@" \
        --out "$out/bench-paper-bf16-$name.json" >"$out/$name.log" 2>&1
    echo "== $name rc=$? in $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.log"
    grep -E "^ (ae|generator|sample|  of it|step|steps|decode|waveform)|^generator tokens|Error|error:" "$out/$name.log"
}

nvidia-smi -L | tee -a "$out/summary.log"
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' | tee -a "$out/summary.log"

for part in "${parts[@]}"; do
    case $part in
        eager) bench eager 150 --warmup 2 --repeats 5 --breakdown ;;  # MDSA stages, generator step, sample; kernel time by op
        compile) bench compile 240 --compile "${gen_only[@]}" --warmup 1 --repeats 5 ;;
        padding-compute) bench padding-compute 90 "${gen_only[@]}" --warmup 2 --repeats 5 \
            --set model.generator.padding=compute ;;  # the padded path before issue 15
        stack-packed) bench stack-packed 90 "${gen_only[@]}" --warmup 2 --repeats 5 \
            --set model.stacker.name=stack_packed ;;
        compile-network) bench compile-network 200 --compile --compile-scope network "${gen_only[@]}" \
            --warmup 1 --repeats 5 ;;
        cudagraphs-sample) bench cudagraphs-sample 150 "${cudagraphs[@]}" "${sample_only[@]}" --warmup 2 --repeats 10 ;;
        cudagraphs-compute) bench cudagraphs-compute 90 "${cudagraphs[@]}" "${sample_only[@]}" --warmup 2 --repeats 10 \
            --set model.generator.padding=compute ;;
        cudagraphs-step) bench cudagraphs-step 150 "${cudagraphs[@]}" "${gen_only[@]}" --skip sample \
            --warmup 3 --repeats 10 ;;
        cudagraphs-packed) bench cudagraphs-packed 120 "${cudagraphs[@]}" "${gen_only[@]}" --warmup 3 --repeats 10 \
            --set model.stacker.name=stack_packed ;;
        eager-batch8) bench eager-batch8 90 "${sample_only[@]}" --sample-batch 8 --warmup 1 --repeats 3 ;;
        *) echo "unknown part $part" >&2; exit 2 ;;
    esac
done
echo "total $(( $(date +%s) - start )) s" | tee -a "$out/summary.log"
