#!/usr/bin/env bash
# Distributed training with torchrun (one process per GPU; gloo on CPU, NCCL on GPU via the config's
# env_cfg.dist_cfg). Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT on every node.
# PYTHON selects the interpreter (default: python on PATH, e.g. the activated virtualenv).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [tools/train.py args...]
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-${MASTER_PORT:-29500}}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
