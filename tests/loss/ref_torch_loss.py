#!/usr/bin/python3
"""`aptrain loss` against independent PyTorch references (Debian python3-torch, float64, autograd).

- Smooth-AP, official semantics: the official code's B x B x B formulation (Brown et al., ECCV 2020,
  github.com/Andrew-Brown1/Smooth_AP, src/Smooth_AP_loss.py) reproduced line by line; the only changes
  are float64 and CPU. It needs sorted equal-size classes, so `aptrain loss` gets the same batch in a
  SHUFFLED row order and its gradient is un-shuffled before the comparison.
- Smooth-AP, paper semantics (--exclude-self) and the five PNP variants: dense B x B x B masked
  formulations written from DESIGN §3, differentiated by autograd.
- The baselines (contrastive, semi-hard triplet, multi-similarity with mining) written from the
  formulas at the top of src/loss/{contrastive,triplet,multisim}.c, with the config defaults.
- Recall@k surrogate (recallk): (a) the values of the OFFICIAL code (github.com/yash0307/RecallatK_surrogate,
  src/losses.py, run unchanged in float64 on the CPU by make_recallk_official.py) kept in
  data/recallk_official.h5, on sorted equal classes as that code needs, given to `aptrain loss` shuffled;
  (b) a dense formulation written from src/backend/cpu/cpu_loss_recallk.c's comment, differentiated by
  autograd, on batches with uneven classes and a query without positives (which the official code
  cannot score: it divides by min(k, m - 1) = 0).
- Inputs written by h5py: float32 and float64 embeddings (one set not normalised, used as given),
  labels as int64, int16 and uint8.
- Bad input files: exit status 1 and one stderr line naming the file and the dataset.

Tolerance: loss and every gradient entry within 1e-9 relative (+ 1e-9 max|grad| for entries that
cancel to ~0): both sides are float64; they differ only in summation order (~1e-15).
Usage: ref_torch_loss.py APTRAIN WORKDIR
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
APTRAIN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
failures = 0


# ---- the official Smooth-AP code (float64, CPU) ------------------------------------------------
def sigmoid(tensor, temp=1.0):
    """temperature controlled sigmoid; takes as input a torch tensor (tensor) and passes it through a
    sigmoid, using the temperature (temp) to control the smoothness"""
    exponent = -tensor / temp
    # clamp the input tensor for stability
    exponent = torch.clamp(exponent, min=-50, max=50)
    y = 1.0 / (1.0 + torch.exp(exponent))
    return y


def compute_aff(x):
    """computes the affinity matrix between an input vector and itself"""
    return torch.mm(x, x.t())


class SmoothAP(torch.nn.Module):
    def __init__(self, anneal, batch_size, num_id, feat_dims):
        super().__init__()
        assert batch_size % num_id == 0
        self.anneal = anneal
        self.batch_size = batch_size
        self.num_id = num_id
        self.feat_dims = feat_dims

    def forward(self, preds):
        # ------ differentiable ranking of all retrieval set ------
        mask = 1.0 - torch.eye(self.batch_size)
        mask = mask.unsqueeze(dim=0).repeat(self.batch_size, 1, 1)
        sim_all = compute_aff(preds)
        sim_all_repeat = sim_all.unsqueeze(dim=1).repeat(1, self.batch_size, 1)
        sim_diff = sim_all_repeat - sim_all_repeat.permute(0, 2, 1)
        sim_sg = sigmoid(sim_diff, temp=self.anneal) * mask
        sim_all_rk = torch.sum(sim_sg, dim=-1) + 1
        # ------ differentiable ranking of only positive set in retrieval set ------
        xs = preds.view(self.num_id, int(self.batch_size / self.num_id), self.feat_dims)
        pos_mask = 1.0 - torch.eye(int(self.batch_size / self.num_id))
        pos_mask = pos_mask.unsqueeze(dim=0).unsqueeze(dim=0).repeat(self.num_id, int(self.batch_size / self.num_id), 1, 1)
        sim_pos = torch.bmm(xs, xs.permute(0, 2, 1))
        sim_pos_repeat = sim_pos.unsqueeze(dim=2).repeat(1, 1, int(self.batch_size / self.num_id), 1)
        sim_pos_diff = sim_pos_repeat - sim_pos_repeat.permute(0, 1, 3, 2)
        sim_pos_sg = sigmoid(sim_pos_diff, temp=self.anneal) * pos_mask
        sim_pos_rk = torch.sum(sim_pos_sg, dim=-1) + 1
        # sum the values of the Smooth-AP for all instances in the mini-batch
        ap = torch.zeros(1)
        group = int(self.batch_size / self.num_id)
        for ind in range(self.num_id):
            pos_divide = torch.sum(sim_pos_rk[ind] / (sim_all_rk[(ind * group):((ind + 1) * group), (ind * group):((ind + 1) * group)]))
            ap = ap + ((pos_divide / group) / self.batch_size)
        return (1 - ap)


# ---- dense masked formulations (any label order) -------------------------------------------------
def sg_tensor(E, tau):
    S = E @ E.t()
    diff = S.unsqueeze(1) - S.unsqueeze(2)  # [q, i, j] = s_qj - s_qi
    return sigmoid(diff, tau)


def smoothap_paper(E, labels, tau):
    B = E.shape[0]
    same = (labels[:, None] == labels[None, :]).double()
    eye = torch.eye(B)
    sg = sg_tensor(E, tau)
    notq = 1 - eye  # [q, j]: j != q
    # gallery: j != i and j != q; positives: same class, != q
    gal = notq[:, None, :] * (1 - eye)[None, :, :]
    posj = (same * notq)[:, None, :] * (1 - eye)[None, :, :]
    r_all = 1 + (sg * gal).sum(-1)
    r_pos = 1 + (sg * posj).sum(-1)
    posi = same * notq  # [q, i]
    npos = posi.sum(1)
    valid = npos > 0
    ap = (posi * r_pos / r_all).sum(1)[valid] / npos[valid]
    return 1 - ap.mean()


def pnp(E, labels, tau, variant, alpha, b):
    same = (labels[:, None] == labels[None, :]).double()
    sg = sg_tensor(E, tau)
    N = (sg * (1 - same)[:, None, :]).sum(-1)  # [q, i]
    f = {"pnp-o": lambda n: n,
         "pnp-ds": lambda n: torch.log(1 + n),
         "pnp-dq": lambda n: (1 + n) ** (-alpha),
         "pnp-iu": lambda n: (1 + n) * torch.log(1 + n),
         "pnp-ib": lambda n: (b * n - torch.log(1 + b * n)) / b ** 2}[variant](N)
    per_q = (f * same).sum(1) / same.sum(1)
    loss = per_q.mean()
    return 1 - loss if variant == "pnp-dq" else loss


def recallk(E, labels, tau, ks, tks):
    B = E.shape[0]
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(B, dtype=torch.bool)
    pos = (same & ~eye).double()  # [q, p]
    rank = 1 + (sg_tensor(E, tau) * (~eye).double()[None, :, :]).sum(-1)  # [q, p]: sum over j != p
    npos = pos.sum(1)
    valid = npos > 0
    recall = torch.zeros(B)
    for k, tk in zip(ks, tks):
        k = min(k, B)
        s = (sigmoid(k - rank, tk) * pos).sum(1)
        norm = torch.clamp(torch.minimum(torch.full_like(npos, k), npos), min=1)  # rows without positives: unused
        recall = recall + torch.minimum(s, torch.full_like(s, k)) / norm
    return (1 - recall[valid] / len(ks)).mean()


# ---- baselines, with the defaults of src/config/config_keys.def (what `aptrain loss` uses) ----------
MARGIN, MS_A, MS_B, MS_L, MS_E = 0.2, 2.0, 50.0, 0.5, 0.1


def masks(labels):
    B = len(labels)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(B, dtype=torch.bool)
    return same & ~eye, ~same


def contrastive(E, labels):
    S = E @ E.t()
    pos, neg = masks(labels)
    lp = (torch.relu(1 - S) * pos).sum(1) / pos.sum(1).clamp(min=1)
    ln = (torch.relu(S - MARGIN) * neg).sum(1) / neg.sum(1).clamp(min=1)
    return (lp + ln).mean()


def triplet_semihard(E, labels):
    S = E @ E.t()
    pos, neg = masks(labels)
    total, Q = 0, 0
    for q in range(len(labels)):
        P, N = pos[q].nonzero().flatten().tolist(), neg[q].nonzero().flatten().tolist()
        if not P or not N:
            continue
        Q += 1
        for i in P:
            below = [j for j in N if S[q, j] < S[q, i]]
            n = max(below, key=lambda j: S[q, j].item()) if below else min(N, key=lambda j: S[q, j].item())
            total = total + torch.relu(S[q, n] - S[q, i] + MARGIN) / len(P)
    return total / Q


def multisim(E, labels):
    S = E @ E.t()
    pos, neg = masks(labels)
    total = 0
    for q in range(len(labels)):
        if not pos[q].any() or not neg[q].any():
            continue
        s = S[q]
        kp = pos[q] & (s.detach() - MS_E < s.detach()[neg[q]].max())
        kn = neg[q] & (s.detach() + MS_E > s.detach()[pos[q]].min())
        if not kp.any() or not kn.any():
            continue
        zero = torch.zeros(1)  # log(1 + sum exp(x)) = logsumexp([0, x]): no overflow at scale 1.7
        total = total + torch.logsumexp(torch.cat([zero, -MS_A * (s[kp] - MS_L)]), 0) / MS_A \
            + torch.logsumexp(torch.cat([zero, MS_B * (s[kn] - MS_L)]), 0) / MS_B
    return total / len(labels)


# ---- driver -----------------------------------------------------------------------------------
def run_ours(name, E, labels, args, tag, edtype, ldtype):
    inp, out = os.path.join(WORK, tag + "_in.h5"), os.path.join(WORK, tag + "_out.h5")
    with h5py.File(inp, "w") as f:
        f["embeddings"] = E.astype(edtype)
        f["labels"] = labels.astype(ldtype)
    cmd = [APTRAIN, "loss", "--loss", name] + args + [inp, out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL %s: %s exited %d: %s" % (tag, " ".join(cmd), r.returncode, r.stderr))
    with h5py.File(out, "r") as f:
        return float(f["loss"][()]), f["grad"][()]


def check(tag, loss, grad, rloss, rgrad):
    global failures
    gmax = np.abs(rgrad).max()
    err = np.abs(grad - rgrad)
    bad = err > 1e-9 * np.abs(rgrad) + 1e-9 * gmax
    lerr = abs(loss - rloss)
    finite = np.isfinite(rloss) and np.isfinite(rgrad).all() and np.isfinite(loss) and np.isfinite(grad).all()
    ok = bool(finite and lerr <= 1e-9 * abs(rloss) + 1e-300 and not bad.any())
    failures += not ok
    print("%s %-44s loss %.12f ref %.12f |dloss| %.1e  max|dgrad|/max|grad| %.1e"
          % ("ok  " if ok else "FAIL", tag, loss, rloss, lerr, err.max() / gmax))


def batch(seed, C, m, D, scale):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(C, D))
    E = np.repeat(mu, m, axis=0) * 0.8 + rng.normal(size=(C * m, D))
    if scale is None:
        E /= np.linalg.norm(E, axis=1, keepdims=True)
    else:
        E *= scale
    labels = np.repeat(np.arange(C) * 7 + 3, m)  # sorted, equal classes: what the official code needs
    return E, labels


def main():
    # 1. official Smooth-AP code vs ours on a shuffled copy; float32 and float64 files
    for (seed, C, m, D, tau, edt) in [(1, 6, 4, 8, 0.01, np.float32), (2, 5, 3, 16, 0.05, np.float64),
                                      (3, 8, 4, 32, 0.01, np.float64)]:
        E, labels = batch(seed, C, m, D, None)
        E = E.astype(edt).astype(np.float64)  # the reference sees exactly the values in the file
        B = C * m
        perm = np.random.default_rng(seed + 100).permutation(B)
        Et = torch.tensor(E, requires_grad=True)
        ref = SmoothAP(tau, B, C, D)(Et)
        ref.backward()
        args = [] if tau == 0.01 else ["--tau", repr(tau)]
        loss, grad = run_ours("smoothap", E[perm], labels[perm], args, "official%d" % seed, edt, np.int64)
        check("smoothap official code B=%d D=%d tau=%g %s" % (B, D, tau, np.dtype(edt).name),
              loss, grad, ref.item(), Et.grad.numpy()[perm])

    # 1b. the official Recall@k surrogate's values (data/recallk_official.h5) vs ours on a shuffled copy
    with h5py.File(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "recallk_official.h5"), "r") as f:
        for name in sorted(f):
            g = f[name]
            E, labels, grad_off = g["embeddings"][()], g["labels"][()], g["grad"][()]
            ks, tks = list(g.attrs["k"]), list(g.attrs["k_temperatures"])
            args = ["--tau", repr(float(g.attrs["tau"])), "--k", ",".join(str(int(k)) for k in ks),
                    "--k-temperatures", ",".join(repr(float(t)) for t in tks)]
            perm = np.random.default_rng(len(labels)).permutation(len(labels))
            loss, grad = run_ours("recallk", E[perm], labels[perm], args, "recallk_official_" + name, np.float64,
                                  np.int64)
            check("recallk official code B=%d m=%d k=%s tk=%s" % (len(labels), g.attrs["m"], ks, [float(t) for t in tks]),
                  loss, grad, float(g["loss"][()]), grad_off[perm])
            # the float64 dense formulation on the same batch: independent of both
            Et = torch.tensor(E, requires_grad=True)
            ref = recallk(Et, torch.tensor(labels), float(g.attrs["tau"]), [int(k) for k in ks], [float(t) for t in tks])
            ref.backward()
            check("recallk dense vs official code B=%d" % len(labels), ref.item(), Et.grad.numpy(),
                  float(g["loss"][()]), grad_off)

    # 2. dense formulations on shuffled, partly non-normalised batches with uneven classes
    cases = [("smoothap", ["--exclude-self"], lambda E, l: smoothap_paper(E, l, 0.01)),
             ("pnp-o", [], lambda E, l: pnp(E, l, 0.01, "pnp-o", 4, 2)),
             ("pnp-ds", [], lambda E, l: pnp(E, l, 0.01, "pnp-ds", 4, 2)),
             ("pnp-dq", [], lambda E, l: pnp(E, l, 0.01, "pnp-dq", 4, 2)),
             ("pnp-dq", ["--alpha", "2.5", "--tau", "0.03"], lambda E, l: pnp(E, l, 0.03, "pnp-dq", 2.5, 2)),
             ("pnp-iu", [], lambda E, l: pnp(E, l, 0.01, "pnp-iu", 4, 2)),
             ("pnp-ib", [], lambda E, l: pnp(E, l, 0.01, "pnp-ib", 4, 2)),
             ("pnp-ib", ["--b", "3"], lambda E, l: pnp(E, l, 0.01, "pnp-ib", 4, 3)),
             ("contrastive", [], contrastive),
             ("triplet", [], triplet_semihard),
             ("multisim", [], multisim),
             ("recallk", [], lambda E, l: recallk(E, l, 0.01, [1, 2, 4, 8, 16], [1, 2, 4, 8, 16])),
             ("recallk", ["--tau", "0.03", "--k", "1,4,16,32", "--k-temperatures", "1,1,1,1"],
              lambda E, l: recallk(E, l, 0.03, [1, 4, 16, 32], [1, 1, 1, 1]))]
    for k, (name, args, fn) in enumerate(cases):
        for scale, edt, ldt in [(None, np.float32, np.int16), (1.7, np.float64, np.uint8)]:
            E, labels = batch(10 + k, 7, 4, 12, scale)
            labels = labels.copy()
            labels[0] = 200  # a class of size 1 and a class of size 3
            E = E.astype(edt).astype(np.float64)
            perm = np.random.default_rng(k).permutation(len(labels))
            E, labels = E[perm], labels[perm]
            Et = torch.tensor(E, requires_grad=True)
            ref = fn(Et, torch.tensor(labels.astype(np.int64)))
            ref.backward()
            tag = "%s%s %s %s" % (name, " " + " ".join(args) if args else "", "normalised" if scale is None else "scale %g" % scale, np.dtype(edt).name)
            loss, grad = run_ours(name, E, labels, args, "dense%d_%s" % (k, np.dtype(edt).name), edt, ldt)
            check(tag, loss, grad, ref.item(), Et.grad.numpy())

    # 3. bad inputs: exit 1, one line naming the file and the dataset
    global failures
    bad = os.path.join(WORK, "bad.h5")
    for what, writer, needle in [
        ("no /labels", lambda f: f.create_dataset("embeddings", data=np.zeros((4, 3))), "/labels"),
        ("float labels", lambda f: (f.create_dataset("embeddings", data=np.zeros((4, 3))),
                                    f.create_dataset("labels", data=np.zeros(4))), "/labels"),
        ("1-D embeddings", lambda f: (f.create_dataset("embeddings", data=np.zeros(4)),
                                      f.create_dataset("labels", data=np.zeros(4, np.int32))), "/embeddings"),
        ("label count", lambda f: (f.create_dataset("embeddings", data=np.zeros((4, 3))),
                                   f.create_dataset("labels", data=np.zeros(5, np.int32))), "/labels")]:
        with h5py.File(bad, "w") as f:
            writer(f)
        r = subprocess.run([APTRAIN, "loss", "--loss", "smoothap", bad, os.path.join(WORK, "o.h5")],
                           capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        ok = r.returncode == 1 and len(lines) == 1 and bad in lines[0] and needle in lines[0]
        failures += not ok
        print("%s bad input (%s): rc %d: %s" % ("ok  " if ok else "FAIL", what, r.returncode, r.stderr.strip()))
    r = subprocess.run([APTRAIN, "loss", "--loss", "smoothap", os.path.join(WORK, "missing.h5"), os.path.join(WORK, "o.h5")],
                       capture_output=True, text=True)
    ok = r.returncode == 1 and "missing.h5" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    failures += not ok
    print("%s missing input: rc %d: %s" % ("ok  " if ok else "FAIL", r.returncode, r.stderr.strip()))
    r = subprocess.run([APTRAIN, "loss", "--loss", "nope", bad, os.path.join(WORK, "o.h5")], capture_output=True, text=True)
    ok = r.returncode == 2 and "nope" in r.stderr
    failures += not ok
    print("%s unknown loss: rc %d: %s" % ("ok  " if ok else "FAIL", r.returncode, r.stderr.strip()))

    for opts in (["--alpha", "nan"], ["--tau", "0"], ["--b", "-1"], ["--tau"], ["--k", "1,2"], ["--k", "0"],
                 ["--k", "1.5"], ["--k-temperatures", "1,1"], ["--k", "1,2", "--k-temperatures", "1,-1"]):
        r = subprocess.run([APTRAIN, "loss", "--loss", "pnp-dq"] + opts + [bad, os.path.join(WORK, "o.h5")],
                           capture_output=True, text=True)
        ok = r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        failures += not ok
        print("%s bad option %s: rc %d: %s" % ("ok  " if ok else "FAIL", " ".join(opts), r.returncode, r.stderr.strip()))

    print("ref_torch_loss: %s" % ("all passed" if not failures else "%d FAILED" % failures))
    sys.exit(1 if failures else 0)


main()
