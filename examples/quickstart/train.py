"""A tiny training run for the hypotop quickstart: a one-hidden-layer
network fits a noisy curve with mini-batch SGD. Standard library only, a
few seconds a run. Hyperparameters come from hparams.json; progress goes
to stdout as `step=N loss=X` lines and the result as `val_loss=X`."""

import json
import math
import os
import random

with open("hparams.json") as f:
    hp = json.load(f)
lr = float(hp["lr"])
hidden = int(hp["hidden"])
batch_size = int(hp["batch_size"])
weight_decay = float(hp["weight_decay"])
steps = int(hp.get("steps", 1500))

# The data is fixed; HYPOTOP_SEED changes only the initialisation.
data_rng = random.Random(1234)
def target(x):
    return math.sin(3 * x) + 0.3 * x * x
xs = [data_rng.uniform(-2, 2) for _ in range(320)]
ys = [target(x) + data_rng.gauss(0, 0.1) for x in xs]
train = list(zip(xs[:256], ys[:256]))
val = list(zip(xs[256:], ys[256:]))

rng = random.Random(int(os.environ.get("HYPOTOP_SEED", "0")))
w1 = [rng.gauss(0, 1.0) for _ in range(hidden)]
b1 = [rng.gauss(0, 0.5) for _ in range(hidden)]
w2 = [rng.gauss(0, 1.0 / math.sqrt(hidden)) for _ in range(hidden)]
b2 = 0.0

def forward(x):
    h = [math.tanh(w1[j] * x + b1[j]) for j in range(hidden)]
    return h, sum(w2[j] * h[j] for j in range(hidden)) + b2

def mse(pairs):
    return sum((forward(x)[1] - y) ** 2 for x, y in pairs) / len(pairs)

print("total_steps=%d" % steps, flush=True)
for step in range(1, steps + 1):
    batch = [train[rng.randrange(len(train))] for _ in range(batch_size)]
    gw1 = [0.0] * hidden
    gb1 = [0.0] * hidden
    gw2 = [0.0] * hidden
    gb2 = 0.0
    loss = 0.0
    for x, y in batch:
        h, out = forward(x)
        d = 2 * (out - y) / batch_size
        loss += (out - y) ** 2 / batch_size
        gb2 += d
        for j in range(hidden):
            gw2[j] += d * h[j]
            dh = d * w2[j] * (1 - h[j] * h[j])
            gw1[j] += dh * x
            gb1[j] += dh
    for j in range(hidden):
        w1[j] -= lr * (gw1[j] + weight_decay * w1[j])
        b1[j] -= lr * gb1[j]
        w2[j] -= lr * (gw2[j] + weight_decay * w2[j])
    b2 -= lr * gb2
    if not math.isfinite(loss):
        print("step=%d loss=nan" % step, flush=True)
        raise SystemExit(1)
    if step % 100 == 0:
        print("step=%d loss=%.5f" % (step, loss), flush=True)

print("val_loss=%.6f" % mse(val), flush=True)
