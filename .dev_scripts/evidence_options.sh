# cfg-option builders sourced by the evidence scripts (.dev_scripts/cls_sweep.sh, .dev_scripts/gpu_evidence.sh); each
# appends to the caller's array `opts`.
#   cifar100_options DATA EPOCHS WARMUP: point the configs/ewa_cls CIFAR-100 configs at DATA and set their
#     schedule (WARMUP linear warm-up epochs, then cosine to EPOCHS); exits 2 with the fix when DATA has no
#     class folders. The keys set to DATA are $CIFAR_ROOT_KEYS when it is set (space-separated), else the
#     train and test datasets' data_root; the 50k configs (a ConcatDataset of train/ and train_rest/) need
#     e.g. CIFAR_ROOT_KEYS="train_dataloader.dataset.datasets.0.data_root
#     train_dataloader.dataset.datasets.1.data_root test_dataloader.dataset.data_root".
#   subset_options N BATCH: cut the train and test sets to their first N images at batch BATCH (smoke
#     tests); nothing when N is empty.
cifar100_options() {
  local data=$1 epochs=$2 warmup=$3
  [[ -d "$data/train" && -d "$data/test" ]] || { echo "$(basename "$0"): no CIFAR-100 class folders" \
    "(train/, test/) under $data: set DATA (.dev_scripts/make_samples.py describes the layout)" >&2; exit 2; }
  local keys key
  read -ra keys <<< "${CIFAR_ROOT_KEYS:-train_dataloader.dataset.data_root test_dataloader.dataset.data_root}"
  for key in "${keys[@]}"; do opts+=("$key=$data"); done
  opts+=(train_cfg.max_epochs="$epochs" param_scheduler.0.end="$warmup"
         param_scheduler.1.begin="$warmup" param_scheduler.1.end="$epochs")
}

subset_options() {
  [[ -z "$1" ]] || opts+=(train_dataloader.dataset.indices="$1" test_dataloader.dataset.indices="$1"
                          train_dataloader.batch_size="$2" test_dataloader.batch_size="$2")
}
