#!/bin/bash
# bitwise_evidence.sh BIN_DIR TAG — the evidence that a refactor moved no number (RESULTS.md "One step, one
# optimizer pass" and "Tensor views"): run on the binaries before and after, compare the printed hashes. Quickstart
# 2 ranks 600 steps; SGD (Nesterov, wd, head lr x2) with clipping and train.chunk 32 at
# 2 ranks, 60 steps; bf16 ResNet-18 1 rank 10 steps on apt_synth data; then SHA-256 of /params, /buffers, /optim of
# each run's latest.h5 and its losses. Needs /tmp/optim_fm (aprep fashion-mnist) and /tmp/optim_syn (apt_synth DIR 8 32 8).
set -e
BIN=$(realpath "$1"); TAG=$2; OUT=/tmp/optim_runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$(dirname "$0")/../.."
mkdir -p /tmp/optim_ev
rm -rf $OUT/qs_$TAG $OUT/clip_$TAG $OUT/r18_$TAG
mpirun -np 2 --oversubscribe $BIN/aptrain configs/quickstart.yaml data.root=/tmp/optim_fm out_dir=$OUT run_name=qs_$TAG schedule.max_steps=600 resume=never > /tmp/optim_ev/qs_$TAG.log 2>&1
rm -rf $OUT/clip_$TAG
mpirun -np 2 --oversubscribe $BIN/aptrain configs/quickstart.yaml data.root=/tmp/optim_fm out_dir=$OUT run_name=clip_$TAG schedule.max_steps=60 resume=never model.bn=frozen train.chunk=32 optim.name=sgd optim.lr=0.05 optim.nesterov=true optim.weight_decay=1e-4 optim.fc_lr_mul=2 optim.clip_grad_norm=0.05 > /tmp/optim_ev/clip_$TAG.log 2>&1
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $BIN/aptrain configs/quickstart.yaml data.root=/tmp/optim_syn out_dir=$OUT run_name=r18_$TAG model.arch=resnet18 model.bn=frozen precision=bf16 data.batch_size=32 data.samples_per_class=4 schedule.max_steps=10 logging.every_steps=1 resume=never data.threads=1 > /tmp/optim_ev/r18_$TAG.log 2>&1
/usr/bin/python3 - $OUT/qs_$TAG $OUT/clip_$TAG $OUT/r18_$TAG <<'PY'
import sys, h5py, hashlib, json
for run in sys.argv[1:]:
    print("==", run)
    with h5py.File(run + "/checkpoints/latest.h5", "r") as f:
        for g in ("/params", "/buffers", "/optim"):
            if g not in f: print(g, "absent"); continue
            h = hashlib.sha256()
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    h.update(name.encode()); h.update(obj[()].tobytes())
            f[g].visititems(visit)
            print(g, h.hexdigest())
    losses = [json.loads(l) for l in open(run + "/metrics.jsonl")]
    print("train losses:", [(d["step"], d["loss"]) for d in losses if d.get("type") == "train"])
    print("eval:", [ {k:v for k,v in d.items() if k not in ("type",)} for d in losses if d.get("type") == "eval"])
    try: print("leaderboard:", open(run + "/leaderboard.json").read().strip()[:600])
    except Exception as e: print("leaderboard: none", e)
PY
