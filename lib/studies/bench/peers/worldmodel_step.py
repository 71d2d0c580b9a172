"""PyTorch peer of the `worldmodel-step` benchmark (lib/studies/bench/worldmodel_bench.ts).

The same model, batch and loss as ours (lib/models/world_model.ts at the `small` preset's size):
an action-conditioned predictor over the latents of a frozen encoder, 16 patch tokens (a 4x4
grid) of width 64 per frame and 4 actions. Each step contributes an action token (a linear map
of the one-hot action) and its frame's 16 latent tokens (a linear map plus fixed 2-D sin-cos
positions), plus a learned time embedding [8, 64]; 2 pre-norm blocks of width 64 with 2 heads
(separate q/k/v/proj linears, MLP ratio 4, tanh GELU, layer norm eps 1e-6) under a
block-causal mask (a token sees its own step and earlier ones), a final layer norm and an output
linear back to 64; residual outputs, s_hat_{t+1} = s_t + deltaScale * out (deltaScale a
non-trained [16, 64] constant, ones here as ours). Linear weights and the time table ~ truncated
normal (std 0.02), biases zero.

One training step on a batch of 32 windows of T + 1 = 9 frames (random latents and actions,
as ours: a frozen encoder's latents are computed once per dataset, not per step): the
teacher-forced loss over the 8 steps (136 tokens per sequence) and a 4-step rollout whose
predictions are fed back with their gradient (predictor passes over 1, 2, 3, 4 steps of
context), both mean absolute error, weighted 0.7 / 0.3; backward; gradients clipped to global
norm 1; AdamW (lr 1e-4, betas 0.9 / 0.999, eps 1e-8, weight decay 0.05 on parameters of rank
>= 2, the time table included, none on biases and norm gains). The loss is read back each step
(as ours). Attention is torch's scaled_dot_product_attention with the additive mask, as V-JEPA
2-AC's predictor computes it.

A measurement tool only, run by `deno task bench --peers` when `torch` is importable; never a
dependency of the project. Prints one JSON line:
  {"bench": "worldmodel-step", "impl": "pytorch", "value": sequences/s, "threads": N, ...}
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from peer_common import measure, peak_rss_kib
from peer_torch import Linear, sincos2d, trunc_normal_

BATCH, STEPS = 32, 8
ROWS = COLS = 4
TOKENS, DIM, NUM_ACTIONS = ROWS * COLS, 64, 4
WIDTH, DEPTH, HEADS, MLP_RATIO = 64, 2, 2, 4
ROLLOUT, TEACHER_WEIGHT, ROLLOUT_WEIGHT = 4, 0.7, 0.3
LR, WEIGHT_DECAY, CLIP = 1e-4, 0.05, 1.0
EPS = 1e-6


class Block(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=EPS)
        self.q, self.k, self.v, self.proj = (Linear(d, d) for _ in range(4))
        self.ln2 = nn.LayerNorm(d, eps=EPS)
        self.fc1 = Linear(d, round(d * mlp_ratio))
        self.fc2 = Linear(round(d * mlp_ratio), d)

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.ln1(x)

        def split(t):
            return t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

        att = F.scaled_dot_product_attention(
            split(self.q(h)), split(self.k(h)), split(self.v(h)), attn_mask=mask
        )
        x = x + self.proj(att.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


def block_causal_mask(steps, per_step):
    """Additive [L, L]: 0 where token i may attend to token j (j's step <= i's), -1e9 elsewhere."""
    step = torch.arange(steps * per_step) // per_step
    return torch.where(step[None, :] > step[:, None], -1e9, 0.0)


class WorldModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.action = Linear(NUM_ACTIONS, WIDTH)
        self.latent = Linear(DIM, WIDTH)
        self.time = nn.Parameter(trunc_normal_(torch.zeros(STEPS, WIDTH)))
        self.blocks = nn.ModuleList(Block(WIDTH, HEADS, MLP_RATIO) for _ in range(DEPTH))
        self.norm = nn.LayerNorm(WIDTH, eps=EPS)
        self.out = Linear(WIDTH, DIM)
        self.register_buffer("space", sincos2d(WIDTH, ROWS, COLS))
        self.register_buffer("delta_scale", torch.ones(TOKENS, DIM))
        self.masks = {t: block_causal_mask(t, TOKENS + 1) for t in range(1, STEPS + 1)}

    def predict_next(self, s, a):
        """s [B, t, N, D] latents of steps 0..t-1, a [B, t, A] one-hot actions -> the
        predicted latents of steps 1..t, [B, t, N, D] (as lib/models/world_model.ts)."""
        b, t, n, d = s.shape
        lat = self.latent(s) + self.space
        act = self.action(a).reshape(b, t, 1, WIDTH)
        x = (torch.cat([act, lat], 2) + self.time[:t].reshape(1, t, 1, WIDTH)).reshape(
            b, t * (n + 1), WIDTH
        )
        mask = self.masks[t]
        for blk in self.blocks:
            x = blk(x, mask)
        y = self.norm(x).reshape(b, t, n + 1, WIDTH)[:, :, 1:]
        return s + self.out(y) * self.delta_scale

    def loss(self, s, a):
        """0.7 x the teacher-forced L1 + 0.3 x the mean L1 of a 4-step rollout."""
        T = s.shape[1] - 1
        teacher = F.l1_loss(self.predict_next(s[:, :T], a[:, :T]), s[:, 1:])
        context = s[:, :1]
        errors = []
        for j in range(1, ROLLOUT + 1):
            nxt = self.predict_next(context, a[:, :j])[:, j - 1 : j]
            errors.append(F.l1_loss(nxt, s[:, j : j + 1]))
            context = torch.cat([context, nxt], 1)
        rollout = torch.stack(errors).sum() / len(errors)
        return TEACHER_WEIGHT * teacher + ROLLOUT_WEIGHT * rollout


class WorldModelStep:
    def __init__(self):
        torch.manual_seed(0)
        self.model = WorldModel()
        params = list(self.model.parameters())
        self.params = params
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in params if p.ndim >= 2], "weight_decay": WEIGHT_DECAY},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=LR,
            betas=(0.9, 0.999),
            eps=1e-8,
        )

    def step(self, s, a):
        loss = self.model.loss(s, a)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, CLIP)
        self.optimizer.step()
        return loss.item()


def batch_data(seed=1):
    """Random latents [32, 9, 16, 64] ~ N(0, 1) and one-hot actions [32, 9, 4], as ours."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(BATCH, STEPS + 1, TOKENS, DIM, generator=g)
    actions = torch.randint(0, NUM_ACTIONS, (BATCH, STEPS + 1), generator=g)
    return s, F.one_hot(actions, NUM_ACTIONS).float()


def serve(s, a):
    """Paired timing: the caller alternates windows of our steps with windows of these."""
    model = WorldModelStep()
    for _ in range(2):
        model.step(s, a)
    print("ready", flush=True)
    for line in sys.stdin:
        name, steps = line.split()
        if name != "reference":
            raise SystemExit(f"worldmodel-step has no form '{name}'")
        start = time.perf_counter()
        for _ in range(int(steps)):
            model.step(s, a)
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--quick", action="store_true", help="one step, timed (a smoke check)")
    ap.add_argument(
        "--serve",
        action="store_true",
        help="warm up, print 'ready', then for each line 'reference N' on stdin run N steps and "
        "print {\"seconds\": ...} (paired timing)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s, a = batch_data()
    if args.serve:
        serve(s, a)
        return
    model = WorldModelStep()
    losses = []
    # As ours: three 3-second windows, no warm-up (the first step is in the first window).
    windows, seconds, warmup = (1, 0, 0) if args.quick else (3, 3, 0)
    median, lo, hi = measure(lambda: losses.append(model.step(s, a)), BATCH, windows, seconds, warmup)
    print(
        json.dumps(
            {
                "bench": "worldmodel-step",
                "impl": "pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "value": round(median, 2),
                "unit": "sequences/s",
                "range": [round(lo, 2), round(hi, 2)],
                "peakRssMiB": round(peak_rss_kib() / 1024),
                "loss": [round(losses[0], 5), round(losses[-1], 5)],
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
