# Sourced by tools/cls_sweep.sh and tools/gpu_evidence.sh: `cifar100_options DATA EPOCHS WARMUP [SUBSET]`
# fills the array `opts` with the cfg-options that point the configs/ewa_cls CIFAR-100 configs at DATA, set
# their schedule (WARMUP linear warm-up epochs, then cosine to EPOCHS) and, for smoke tests, cut the train and
# test sets to their first SUBSET images; it exits 2 with the fix when DATA has no class folders.
cifar100_options() {
  local data=$1 epochs=$2 warmup=$3 subset=${4:-}
  [[ -d "$data/train" && -d "$data/test" ]] || { echo "$(basename "$0"): no CIFAR-100 class folders" \
    "(train/, test/) under $data: set DATA (tools/make_samples.py describes the layout)" >&2; exit 2; }
  opts=(train_dataloader.dataset.data_root="$data" test_dataloader.dataset.data_root="$data"
        train_cfg.max_epochs="$epochs" param_scheduler.0.end="$warmup"
        param_scheduler.1.begin="$warmup" param_scheduler.1.end="$epochs")
  if [[ -n "$subset" ]]; then
    opts+=(train_dataloader.dataset.indices="$subset" test_dataloader.dataset.indices="$subset"
           train_dataloader.batch_size=16 test_dataloader.batch_size=16)
  fi
}
