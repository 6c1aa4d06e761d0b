"""The notes' one-hidden-layer sigmoid MLP, written with the Python API:
model, loss, optimizer and Trainer assembled by hand.

    python experiments/sigmoid_mlp.py

Stated quality: validation R^2 >= 0.99 on synthetic_nonlinear.
"""

import sys

from framework import Sequential, Trainer
from framework.data import Standardizer
from plugins.activations import Sigmoid
from plugins.datasets import synthetic_nonlinear
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD


def main() -> int:
    data = synthetic_nonlinear(n_samples=2000, noise=0.05, seed=0)
    train, val = data.split(0.2, seed=0)
    scaler = Standardizer.fit(train.X)
    X, Xv = scaler.transform(train.X), scaler.transform(val.X)

    model = Sequential([Linear(2, 32, seed=0), Sigmoid(), Linear(32, 1, seed=1)])
    model.summary(2)
    trainer = Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.1, momentum=0.9),
                      epochs=100, batch_size=32, seed=0, metrics=["r2"])
    history = trainer.fit(X, train.y, validation_data=(Xv, val.y))
    r2 = history["val_r2"][-1]
    print(f"validation R^2 after {len(history.epochs)} epochs: {r2:.4f}")
    return 0 if r2 >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
