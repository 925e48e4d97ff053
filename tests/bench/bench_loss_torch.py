#!/usr/bin/python3
"""The naive O(B^3) peer of bench_loss: the official Smooth-AP PyTorch formulation (Brown et al.,
src/Smooth_AP_loss.py: B x B x B sigmoid tensor), float32 on the CPU, forward + backward.

Usage: OMP_NUM_THREADS=2 /usr/bin/python3 bench_loss_torch.py [--D 512] [--m 4] [--reps 3]
                                                            [--timeout 300] [--mem-gb 20] B [B ...]
Each B runs in a child process (so its peak RSS is its own) under `ulimit -v`-style RLIMIT_AS of
--mem-gb and a wall-clock --timeout. Sizes whose B^3 tensors cannot fit are skipped up front: the
formulation keeps about ten B^3 float32 tensors alive at the peak of the backward pass (measured:
2.3 GB at B = 384), so B is skipped when 10 * 4 * B^3 bytes exceeds --mem-gb.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def child(B, D, m, reps):
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    def sigmoid(tensor, temp=1.0):
        exponent = -tensor / temp
        exponent = torch.clamp(exponent, min=-50, max=50)
        return 1.0 / (1.0 + torch.exp(exponent))

    def smooth_ap(preds, anneal, batch_size, num_id, feat_dims):  # the official forward, unchanged
        mask = 1.0 - torch.eye(batch_size)
        mask = mask.unsqueeze(dim=0).repeat(batch_size, 1, 1)
        sim_all = torch.mm(preds, preds.t())
        sim_all_repeat = sim_all.unsqueeze(dim=1).repeat(1, batch_size, 1)
        sim_diff = sim_all_repeat - sim_all_repeat.permute(0, 2, 1)
        sim_sg = sigmoid(sim_diff, temp=anneal) * mask
        sim_all_rk = torch.sum(sim_sg, dim=-1) + 1
        g = batch_size // num_id
        xs = preds.view(num_id, g, feat_dims)
        pos_mask = 1.0 - torch.eye(g)
        pos_mask = pos_mask.unsqueeze(dim=0).unsqueeze(dim=0).repeat(num_id, g, 1, 1)
        sim_pos = torch.bmm(xs, xs.permute(0, 2, 1))
        sim_pos_repeat = sim_pos.unsqueeze(dim=2).repeat(1, 1, g, 1)
        sim_pos_diff = sim_pos_repeat - sim_pos_repeat.permute(0, 1, 3, 2)
        sim_pos_sg = sigmoid(sim_pos_diff, temp=anneal) * pos_mask
        sim_pos_rk = torch.sum(sim_pos_sg, dim=-1) + 1
        ap = torch.zeros(1)
        for ind in range(num_id):
            pos_divide = torch.sum(sim_pos_rk[ind] / (sim_all_rk[(ind * g):((ind + 1) * g), (ind * g):((ind + 1) * g)]))
            ap = ap + ((pos_divide / g) / batch_size)
        return 1 - ap

    torch.manual_seed(0)
    E = torch.nn.functional.normalize(torch.randn(B, D), dim=1)
    times, cpu = [], []
    for r in range(reps + 1):
        x = E.clone().requires_grad_(True)
        t0, c0 = time.perf_counter(), time.process_time()
        loss = smooth_ap(x, 0.01, B, B // m, D)
        loss.backward()
        if r > 0:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"B": B, "time_ms": times[len(times) // 2] * 1e3, "cpu_ms": cpu[len(cpu) // 2] * 1e3,
                      "best_ms": times[0] * 1e3, "peak_rss_mb": peak,
                      "loss": float(loss), "threads": torch.get_num_threads()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--D", type=int, default=512)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--mem-gb", type=float, default=20)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("B", type=int, nargs="+")
    a = ap.parse_args()
    if a.child:
        child(a.B[0], a.D, a.m, a.reps)
        return
    print("# naive PyTorch Smooth-AP (official B^3 formulation), float32, D=%d, m=%d, threads %s, median of %d"
          % (a.D, a.m, os.environ.get("OMP_NUM_THREADS", "1"), a.reps))
    print("# %8s %10s %9s %9s %12s" % ("B", "time_ms", "best_ms", "cpu_ms", "peakRSS_MB"))
    for B in a.B:
        need_gb = 10 * 4 * B ** 3 / 2 ** 30
        if need_gb > a.mem_gb:
            print("  %8d  skipped: needs ~%.0f GB (> --mem-gb %g)" % (B, need_gb, a.mem_gb))
            continue
        lim = int(a.mem_gb * 2 ** 30)

        def cap():
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        try:
            r = subprocess.run([sys.executable, __file__, "--child", "--D", str(a.D), "--m", str(a.m),
                                "--reps", str(a.reps), str(B)], capture_output=True, text=True,
                               timeout=a.timeout, preexec_fn=cap)
        except subprocess.TimeoutExpired:
            print("  %8d  timeout after %.0f s" % (B, a.timeout))
            continue
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            print("  %8d  failed (rc %d): %s" % (B, r.returncode, last[:120]))
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        print("  %8d %10.1f %9.1f %9.1f %12.1f   loss %.6f" % (B, res["time_ms"], res["best_ms"], res["cpu_ms"],
                                                          res["peak_rss_mb"], res["loss"]))
        sys.stdout.flush()


main()
