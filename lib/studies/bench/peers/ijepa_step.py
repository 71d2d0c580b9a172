"""PyTorch peer of the `ijepa-step` benchmark (lib/bench/ijepa_bench.ts).

The same model, batch and masks as ours: ViT patch 12 on 84x84x4 frame stacks (49 patches of
576 values, fed as pre-cut patches), width 192, depth 4, heads 3, MLP ratio 4, fixed 2-D sin-cos
positions, pre-norm blocks with separate q/k/v/proj linears, tanh GELU, layer norm eps 1e-6;
predictor width 96, depth 2, heads 2 with a mask token; EMA target encoder (0.996); smooth L1
to the layer-normed target features of 4 target blocks of 2x2 patches with 25 context patches
per sample (fewer when a sample's context block keeps fewer, as ours); gradient clipping to norm 1; AdamW (lr 1e-4, weight decay 0.04 on weights of rank
>= 2). Batch 64. One training step is: masks, forward, backward, clip, AdamW, EMA.

By default the step is the formulation as published (I-JEPA's code): every token through every
block of the target encoder and the predictor. With --pruned, the last block of each computes
only the outputs the loss reads (the target tokens, the mask tokens), as ours does: the same
loss for less work, so the two ratios bracket what the kernels and what the formulation bring.

A measurement tool only, run by `deno task bench --peers` when `torch` is importable; never a
dependency of the project. Prints one JSON line:
  {"bench": "ijepa-step", "impl": "pytorch", "value": samples/s, "threads": N, "pruned": ...}
"""

import argparse
import json
import math
import random
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from peer_common import measure, peak_rss_kib
from peer_torch import Linear, sincos2d, trunc_normal_

GRID = 7  # 84 / 12
TOKENS = GRID * GRID
PATCH_DIM = 12 * 12 * 4
WIDTH, DEPTH, HEADS = 192, 4, 3
PRED_WIDTH, PRED_DEPTH, PRED_HEADS = 96, 2, 2
BATCH = 64
TARGETS, TARGET_SIDE, CONTEXT_KEEP, MIN_CONTEXT = 4, 2, 25, 4
EPS = 1e-6


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.proj = (Linear(d, d) for _ in range(4))

    def forward(self, x, queries=None):
        """Queries: all tokens, or the last `queries` alone (their rows of the full output)."""
        b, n, d = x.shape
        dh = d // self.heads
        nq = n if queries is None else queries

        def split(t, rows):
            return t.reshape(b, rows, self.heads, dh).transpose(1, 2)

        q = split(self.q(x[:, n - nq :]), nq)
        k, v = split(self.k(x), n), split(self.v(x), n)
        att = torch.softmax((q @ k.transpose(-2, -1)) * (1 / math.sqrt(dh)), dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, nq, d)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio=4):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=EPS)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d, eps=EPS)
        self.fc1 = Linear(d, round(d * mlp_ratio))
        self.fc2 = Linear(round(d * mlp_ratio), d)

    def forward(self, x, queries=None):
        nq = x.shape[1] if queries is None else queries
        x = x[:, x.shape[1] - nq :] + self.attn(self.ln1(x), queries)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = Linear(PATCH_DIM, WIDTH)
        self.blocks = nn.ModuleList(Block(WIDTH, HEADS) for _ in range(DEPTH))
        self.norm = nn.LayerNorm(WIDTH, eps=EPS)

    def forward(self, patches, pos, output_tokens=None):
        """All tokens' features, or those of `output_tokens` [B, k] alone (the last block
        computes those alone, after a reordering that puts them last), as vitEncode's."""
        x = self.patch(patches) + pos
        if output_tokens is None:
            for blk in self.blocks:
                x = blk(x)
            return self.norm(x)
        b, n, d = x.shape
        for blk in self.blocks[:-1]:
            x = blk(x)
        order = wanted_last(output_tokens, n)
        x = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, d))
        return self.norm(self.blocks[-1](x, output_tokens.shape[1]))


class Predictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = Linear(WIDTH, PRED_WIDTH)
        self.mask_token = nn.Parameter(trunc_normal_(torch.zeros(1, 1, PRED_WIDTH)))
        self.blocks = nn.ModuleList(Block(PRED_WIDTH, PRED_HEADS) for _ in range(PRED_DEPTH))
        self.norm = nn.LayerNorm(PRED_WIDTH, eps=EPS)
        self.proj = Linear(PRED_WIDTH, WIDTH)


def wanted_last(wanted, n):
    """[B, n] token orders with each sample's `wanted` tokens ([B, k]) last, in order."""
    b, k = wanted.shape
    is_wanted = torch.zeros(b, n, dtype=torch.bool).scatter_(1, wanted, True)
    others = torch.arange(n).expand(b, n)[~is_wanted].reshape(b, n - k)
    return torch.cat([others, wanted], 1)


def target_tokens(tgt, n):
    """As lib/models/ijepa.ts' targetTokens: the tokens some target block reads per sample,
    padded with the sample's first other tokens to the batch's largest count k ([B, k]), and
    where each block's tokens sit among them ([M, B, kt] indices into k)."""
    m, b, kt = tgt.shape
    reads = [list(dict.fromkeys(tgt[:, i].flatten().tolist())) for i in range(b)]
    k = max(len(r) for r in reads)
    tokens, slots = [], []
    for r in reads:
        chosen = r + [t for t in range(n) if t not in r][: k - len(r)]
        tokens.append(chosen)
        slots.append({t: j for j, t in enumerate(chosen)})
    rows = torch.tensor(
        [[[slots[i][t] for t in tgt[j, i].tolist()] for i in range(b)] for j in range(m)]
    )
    return torch.tensor(tokens), rows


def gather_tokens(x, idx):
    """x [B or 1, N, F], idx [B, k] -> [B, k, F]."""
    if x.shape[0] == 1:
        return x[0][idx]
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def draw_masks(rng, batch):
    """I-JEPA multi-block masks drawn as lib/ssl/masks.ts draws them for the benchmark: 4 target
    blocks of 2x2 per sample, a context block of scale 0.85-1.0 (its size drawn per batch) minus
    the targets (re-placed until it keeps MIN_CONTEXT tokens), then every context cut to
    min(25, the batch's smallest) random tokens. Returns context [B, k] and targets [4, B, 4]."""
    side = max(1, min(GRID, round(math.sqrt(rng.uniform(0.85, 1.0) * TOKENS))))

    def place(h, w):
        top, left = rng.randrange(GRID - h + 1), rng.randrange(GRID - w + 1)
        return [r * GRID + c for r in range(top, top + h) for c in range(left, left + w)]

    def sample():
        for _ in range(20):
            blocks = [place(TARGET_SIDE, TARGET_SIDE) for _ in range(TARGETS)]
            covered = {i for b in blocks for i in b}
            for _ in range(20):
                ctx = [i for i in place(side, side) if i not in covered]
                if len(ctx) >= MIN_CONTEXT:
                    return ctx, blocks
            ctx = [i for i in range(TOKENS) if i not in covered]
            if len(ctx) >= MIN_CONTEXT:
                return ctx, blocks
        raise RuntimeError("no mask fits")

    drawn = [sample() for _ in range(batch)]
    keep = min(CONTEXT_KEEP, min(len(c) for c, _ in drawn))
    ctx = torch.tensor([sorted(rng.sample(c, keep)) for c, _ in drawn])
    tgt = torch.tensor([b for _, b in drawn]).permute(1, 0, 2).contiguous()  # [4, B, 4]
    return ctx, tgt


class IJepa:
    def __init__(self, pruned=False):
        torch.manual_seed(0)
        self.pruned = pruned
        self.context = Encoder()
        self.predictor = Predictor()
        self.target = Encoder()
        self.target.load_state_dict(self.context.state_dict())
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.enc_pos = sincos2d(WIDTH, GRID, GRID).unsqueeze(0)
        self.pred_pos = sincos2d(PRED_WIDTH, GRID, GRID).unsqueeze(0)
        params = list(self.context.parameters()) + list(self.predictor.parameters())
        self.params = params
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.04},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=1e-4,
            betas=(0.9, 0.999),
            eps=1e-8,
        )

    def loss(self, patches, ctx, tgt):
        b = patches.shape[0]
        m, kt = tgt.shape[0], tgt.shape[2]
        with torch.no_grad():
            if self.pruned:
                tokens, rows = target_tokens(tgt, TOKENS)
                h = self.target(patches, self.enc_pos, tokens)
                h = F.layer_norm(h, (WIDTH,), eps=EPS)
                targets = torch.cat([gather_tokens(h, rows[j]) for j in range(m)], 0)
            else:
                h = self.target(patches, self.enc_pos)
                h = F.layer_norm(h, (WIDTH,), eps=EPS)
                targets = torch.cat([gather_tokens(h, tgt[j]) for j in range(m)], 0)  # [m*B, kt, d]
        z = self.context(gather_tokens(patches, ctx), gather_tokens(self.enc_pos, ctx))
        p = self.predictor
        zp = p.embed(z) + gather_tokens(self.pred_pos, ctx)
        pos_t = torch.cat([gather_tokens(self.pred_pos, tgt[j]) for j in range(m)], 0)
        queries = p.mask_token + pos_t
        x = torch.cat([zp.repeat(m, 1, 1), queries], 1)
        for i, blk in enumerate(p.blocks):
            last = self.pruned and i == len(p.blocks) - 1
            x = blk(x, kt if last else None)
        y = p.norm(x)
        pred = p.proj(y[:, -kt:, :])
        return F.smooth_l1_loss(pred, targets, beta=1.0)

    def step(self, patches, rng):
        ctx, tgt = draw_masks(rng, patches.shape[0])
        loss = self.loss(patches, ctx, tgt)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        with torch.no_grad():
            for t, c in zip(self.target.parameters(), self.context.parameters()):
                t.mul_(0.996).add_(c, alpha=0.004)
        return loss.item()


def serve(patches):
    """Paired timing: the caller alternates windows of our steps with windows of these."""
    models = {"reference": IJepa(False), "pruned": IJepa(True)}
    rngs = {name: random.Random(1) for name in models}
    for name, model in models.items():
        for _ in range(2):
            model.step(patches, rngs[name])
    print("ready", flush=True)
    for line in sys.stdin:
        name, steps = line.split()
        start = time.perf_counter()
        for _ in range(int(steps)):
            models[name].step(patches, rngs[name])
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--quick", action="store_true", help="one short window (a smoke check)")
    ap.add_argument(
        "--pruned",
        action="store_true",
        help="compute only the outputs the loss reads, as ours does: the last block of the "
        "predictor for the mask tokens, that of the target encoder for the target tokens (the "
        "same loss; the default is the reference I-JEPA formulation, every token in every block)",
    )
    ap.add_argument(
        "--serve",
        action="store_true",
        help="build both forms, print 'ready', then for each line 'reference N' or 'pruned N' on "
        "stdin run N steps of that form and print {\"seconds\": ...} (paired timing)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    patches = torch.rand(BATCH, TOKENS, PATCH_DIM, generator=torch.Generator().manual_seed(1))
    if args.serve:
        serve(patches)
        return
    model = IJepa(args.pruned)
    rng = random.Random(1)
    windows, seconds, warmup = (1, 0, 0) if args.quick else (3, 2, 1)
    median, lo, hi = measure(lambda: model.step(patches, rng), BATCH, windows, seconds, warmup)
    peak_kib = peak_rss_kib()
    print(
        json.dumps(
            {
                "bench": "ijepa-step",
                "impl": "pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "pruned": args.pruned,
                "value": round(median, 2),
                "unit": "samples/s",
                "range": [round(lo, 2), round(hi, 2)],
                "peakRssMiB": round(peak_kib / 1024),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
