# cfg-option builders sourced by the evidence scripts (tools/cls_sweep.sh, tools/gpu_evidence.sh); each
# appends to the caller's array `opts`.
#   cifar100_options DATA EPOCHS WARMUP: point the configs/ewa_cls CIFAR-100 configs at DATA and set their
#     schedule (WARMUP linear warm-up epochs, then cosine to EPOCHS); exits 2 with the fix when DATA has no
#     class folders.
#   subset_options N BATCH: cut the train and test sets to their first N images at batch BATCH (smoke
#     tests); nothing when N is empty.
cifar100_options() {
  local data=$1 epochs=$2 warmup=$3
  [[ -d "$data/train" && -d "$data/test" ]] || { echo "$(basename "$0"): no CIFAR-100 class folders" \
    "(train/, test/) under $data: set DATA (tools/make_samples.py describes the layout)" >&2; exit 2; }
  opts+=(train_dataloader.dataset.data_root="$data" test_dataloader.dataset.data_root="$data"
         train_cfg.max_epochs="$epochs" param_scheduler.0.end="$warmup"
         param_scheduler.1.begin="$warmup" param_scheduler.1.end="$epochs")
}

subset_options() {
  [[ -z "$1" ]] || opts+=(train_dataloader.dataset.indices="$1" test_dataloader.dataset.indices="$1"
                          train_dataloader.batch_size="$2" test_dataloader.batch_size="$2")
}
