"""PyTorch peer of the `ppo-update` benchmark (lib/studies/bench/ppo_bench.ts).

CleanRL's `ppo_atari.py` agent and update, on the same batch as ours: the Nature CNN (conv 32
8x8/4, 64 4x4/2, 64 3x3/1, dense 512, ReLUs; orthogonal init, gain sqrt 2, zero biases) under an
actor head (gain 0.01) and a critic head (gain 1), reading uint8 frame stacks / 255. One update
of a 1,024-step rollout (8 envs x 128 steps of 4x84x84 frames, 4 actions): 4 epochs, each a
fresh shuffle cut into 4 minibatches of 256; per minibatch the advantages normalised (unbiased
std, + 1e-8), the clipped surrogate (clip 0.1), the clipped value loss (0.5 x the max of the
squared errors), entropy coefficient 0.01, value coefficient 0.5, gradients clipped to global
norm 0.5, Adam (lr 2.5e-4, betas 0.9 / 0.999, eps 1e-5). The statistics CleanRL logs (approx-KL,
clip fraction) are computed too, as ours computes them.

Where ours (lib/rl/ppo.ts `optimizeRollout` with CLEANRL_PPO_ATARI) differs from CleanRL, this
does what ours does:
- the rollout keeps the frames as uint8 (CleanRL's buffer is float32) and each minibatch is
  converted when it is read; the network sees the same values, x / 255;
- each minibatch's loss is read back before the step (ours checks it is finite; CleanRL reads
  its clip fraction with .item() at the same point, so both sync once per minibatch);
- the learning rate is the constant 2.5e-4 (the benchmark times one update; CleanRL's linear
  annealing only sets the rate between updates, at no cost);
- no early stop on approx-KL (CleanRL's default target_kl None; ours 0, never).
The frames are in torch's layout, channels first (CleanRL's); ours are channels last. The data
are synthetic, as ours: frames mostly dark with ~10% bright pixels (142), random actions, log
probabilities log(1/4), advantages and returns ~ N(0, 1), old values 0.

A measurement tool only, run by `deno task bench --peers` when `torch` is importable; never a
dependency of the project. Prints one JSON line:
  {"bench": "ppo-update", "impl": "pytorch", "value": env steps/s, "threads": N, ...}
where the value is 1,024 divided by the seconds of one update (the median of 3 updates after
one warm-up update; --quick times a single update).
"""

import json
import math
import statistics
import sys
import time

import torch
from torch import nn
from torch.distributions.categorical import Categorical

from peer_common import peak_rss_kib, peer_arguments, serve_forms

NUM_ENVS, NUM_STEPS = 8, 128
BATCH = NUM_ENVS * NUM_STEPS  # 1,024
NUM_MINIBATCHES, UPDATE_EPOCHS = 4, 4
MINIBATCH = BATCH // NUM_MINIBATCHES  # 256
NUM_ACTIONS = 4
FRAME = (4, 84, 84)
LR, ADAM_EPS = 2.5e-4, 1e-5
CLIP_COEF, ENT_COEF, VF_COEF, MAX_GRAD_NORM = 0.1, 0.01, 0.5, 0.5
NORM_ADV, CLIP_VLOSS = True, True


def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    """CleanRL's ppo_atari Agent."""

    def __init__(self, num_actions):
        super().__init__()
        self.network = nn.Sequential(
            layer_init(nn.Conv2d(4, 32, 8, stride=4)),
            nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
            layer_init(nn.Linear(64 * 7 * 7, 512)),
            nn.ReLU(),
        )
        self.actor = layer_init(nn.Linear(512, num_actions), std=0.01)
        self.critic = layer_init(nn.Linear(512, 1), std=1)

    def get_action_and_value(self, x, action=None):
        hidden = self.network(x / 255.0)
        logits = self.actor(hidden)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden)


def rollout_data(seed=0):
    """The synthetic rollout (see the module doc): obs [1024, 4, 84, 84] uint8 and the rest."""
    g = torch.Generator().manual_seed(seed)
    # Drawn as uint8 (a float draw of the whole buffer would add 115 MB to the peak RSS).
    digits = torch.randint(0, 10, (BATCH, *FRAME), generator=g, dtype=torch.uint8)
    obs = (digits == 0).to(torch.uint8) * 142
    del digits
    return {
        "obs": obs,
        "actions": torch.randint(0, NUM_ACTIONS, (BATCH,), generator=g),
        "logprobs": torch.full((BATCH,), math.log(1 / NUM_ACTIONS)),
        "advantages": torch.randn(BATCH, generator=g),
        "returns": torch.randn(BATCH, generator=g),
        "values": torch.zeros(BATCH),
    }


class PpoUpdate:
    def __init__(self, seed=1):
        torch.manual_seed(seed)
        self.agent = Agent(NUM_ACTIONS)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=LR, eps=ADAM_EPS)
        self.shuffle = torch.Generator().manual_seed(seed)

    def update(self, d):
        """One update (CleanRL's optimisation loop); returns the mean statistics."""
        agent, optimizer = self.agent, self.optimizer
        sums = torch.zeros(7, dtype=torch.float64)
        n = 0
        for epoch in range(UPDATE_EPOCHS):
            b_inds = torch.randperm(BATCH, generator=self.shuffle)
            for start in range(0, BATCH, MINIBATCH):
                mb_inds = b_inds[start : start + MINIBATCH]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    d["obs"][mb_inds], d["actions"][mb_inds]
                )
                logratio = newlogprob - d["logprobs"][mb_inds]
                ratio = logratio.exp()

                with torch.no_grad():
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfrac = ((ratio - 1.0).abs() > CLIP_COEF).float().mean()

                mb_advantages = d["advantages"][mb_inds]
                if NORM_ADV:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (
                        mb_advantages.std() + 1e-8
                    )

                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                newvalue = newvalue.view(-1)
                mb_returns, mb_values = d["returns"][mb_inds], d["values"][mb_inds]
                if CLIP_VLOSS:
                    v_loss_unclipped = (newvalue - mb_returns) ** 2
                    v_clipped = mb_values + torch.clamp(newvalue - mb_values, -CLIP_COEF, CLIP_COEF)
                    v_loss_clipped = (v_clipped - mb_returns) ** 2
                    v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                else:
                    v_loss = 0.5 * ((newvalue - mb_returns) ** 2).mean()

                entropy_loss = entropy.mean()
                loss = pg_loss - ENT_COEF * entropy_loss + v_loss * VF_COEF

                # Ours reads the loss and the statistics back here, and stops on a non-finite loss.
                with torch.no_grad():
                    stats = torch.stack(
                        [pg_loss, v_loss, entropy_loss, old_approx_kl, approx_kl, clipfrac]
                    )
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch}")

                optimizer.zero_grad()
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
                optimizer.step()
                sums[:6] += stats.double()
                sums[6] += float(grad_norm)
                n += 1
        return (sums / n).tolist()


def serve(data):
    """Paired timing against ours: one form, `reference`."""
    model = PpoUpdate()
    model.update(data)  # warm-up
    serve_forms({"reference": lambda: model.update(data)}, "ppo-update")


def main():
    ap = peer_arguments(__doc__, "one update, timed (a smoke check)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = rollout_data()
    if args.serve:
        serve(data)
        return
    model = PpoUpdate()
    # As ours: one update per window (an update takes seconds), after one warm-up update.
    if not args.quick:
        model.update(data)
    rates = []
    for _ in range(1 if args.quick else 3):
        start = time.perf_counter()
        stats = model.update(data)
        rates.append(BATCH / (time.perf_counter() - start))
    rates.sort()
    print(
        json.dumps(
            {
                "bench": "ppo-update",
                "impl": "pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "value": round(statistics.median(rates), 1),
                "unit": "env steps/s (optimisation only)",
                "range": [round(rates[0], 1), round(rates[-1], 1)],
                "peakRssMiB": round(peak_rss_kib() / 1024),
                "stats": dict(
                    zip(
                        ["pgLoss", "vLoss", "entropy", "oldApproxKl", "approxKl", "clipFrac", "gradNorm"],
                        [round(v, 5) for v in stats],
                    )
                ),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
