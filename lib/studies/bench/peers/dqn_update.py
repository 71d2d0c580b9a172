"""PyTorch peer of the `dqn-update` benchmark (lib/studies/bench/dqn_bench.ts).

CleanRL's `dqn_atari.py` Q-network (the Nature CNN: conv 32 8x8/4, 64 4x4/2, 64 3x3/1, dense 512,
ReLUs, then a linear layer to the 4 actions, reading uint8 frame stacks / 255) and one gradient
step on a batch of 32 transitions, as ours (lib/rl/dqn.ts `DqnLearner.update`) takes it:
Double DQN targets (the online network picks the next action, the target network values it),
the Huber loss (smooth L1, delta 1) weighted by importance weights (all 1 here), gradients
clipped to global norm 10, Adam (lr 1e-4, betas 0.9 / 0.999, eps 1e-8). Where ours differs from
CleanRL, this does what ours does: CleanRL's `dqn_atari.py` uses the MSE, no Double DQN and no
clipping; ours reads the loss, the TD errors (for the priorities) and the mean Q back before the
step, and so does this. The frames are channels first here (torch's layout), channels last in
ours. The data are synthetic, as ours: frames mostly dark with ~10% bright pixels (142), random
actions, rewards 1 with probability 0.1, 1% terminal transitions.

A measurement tool only, run by `deno task bench --peers` when `torch` is importable; never a
dependency of the project. Prints one JSON line:
  {"bench": "dqn-update", "impl": "pytorch", "value": updates/s, "threads": N, ...}
"""

import json
import sys

import torch
from torch import nn

from peer_common import measure, peak_rss_kib, peer_arguments, serve_forms

BATCH, NUM_ACTIONS = 32, 4
FRAME = (4, 84, 84)
LR, GAMMA, MAX_GRAD_NORM = 1e-4, 0.99, 10.0


class QNetwork(nn.Module):
    """CleanRL's dqn_atari QNetwork."""

    def __init__(self, num_actions):
        super().__init__()
        self.network = nn.Sequential(
            nn.Conv2d(4, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(3136, 512),
            nn.ReLU(),
            nn.Linear(512, num_actions),
        )

    def forward(self, x):
        return self.network(x / 255.0)


def batch_data(seed=0):
    g = torch.Generator().manual_seed(seed)

    def frames():
        return ((torch.rand((BATCH, *FRAME), generator=g) < 0.1).to(torch.uint8) * 142)

    return {
        "obs": frames(),
        "next_obs": frames(),
        "actions": torch.randint(0, NUM_ACTIONS, (BATCH,), generator=g),
        "rewards": (torch.rand(BATCH, generator=g) < 0.1).float(),
        "dones": (torch.rand(BATCH, generator=g) < 0.01).float(),
        "weights": torch.ones(BATCH),
    }


class DqnUpdate:
    def __init__(self, seed=1):
        torch.manual_seed(seed)
        self.q = QNetwork(NUM_ACTIONS)
        self.target = QNetwork(NUM_ACTIONS)
        self.target.load_state_dict(self.q.state_dict())
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=LR)

    def update(self, d):
        with torch.no_grad():
            next_target = self.target(d["next_obs"].float())
            a_star = self.q(d["next_obs"].float()).argmax(dim=1)
            next_value = next_target.gather(1, a_star.unsqueeze(1)).squeeze(1)
            y = d["rewards"] + GAMMA * (1 - d["dones"]) * next_value
        q = self.q(d["obs"].float()).gather(1, d["actions"].unsqueeze(1)).squeeze(1)
        td = q - y
        loss = (nn.functional.smooth_l1_loss(q, y, reduction="none") * d["weights"]).mean()
        # Ours reads these back before the step (the NaN guard, the priorities, the Q log).
        loss_value, _, _ = loss.item(), td.detach().tolist(), q.detach().mean().item()
        if loss_value != loss_value:
            raise FloatingPointError("loss became NaN")
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.q.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        return loss_value


def serve(data):
    """Paired timing against ours: one form, `reference`."""
    model = DqnUpdate()
    model.update(data)  # warm-up
    serve_forms({"reference": lambda: model.update(data)}, "dqn-update")


def main():
    ap = peer_arguments(__doc__, "a few updates, timed (a smoke check)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = batch_data()
    if args.serve:
        serve(data)
        return
    model = DqnUpdate()
    losses = []
    # As ours: windows of 2 s after a 1 s warm-up (one short window with --quick).
    median, low, high = measure(
        lambda: losses.append(model.update(data)),
        1,
        *((1, 0, 0) if args.quick else (5, 2, 1)),
    )
    print(
        json.dumps(
            {
                "bench": "dqn-update",
                "impl": "pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "value": round(median, 1),
                "unit": "updates/s",
                "range": [round(low, 1), round(high, 1)],
                "peakRssMiB": round(peak_rss_kib() / 1024),
                "loss": [round(v, 5) for v in losses[:3]],
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
