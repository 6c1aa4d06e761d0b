"""The digits experiment (experiments/digits_mlp.toml) written with the Python API:
data, model, loss, optimizer and Trainer assembled by hand.

    python experiments/digits_mlp.py

Trains on digits(subset="train") and reports the accuracy on
digits(subset="test"), the 359 held-out images (the same ones the TOML
file's validation split holds out), overall and per class, by label.
Stated quality: test accuracy >= 0.97.
"""

import sys

import numpy as np

from framework import Sequential, Trainer
from plugins.activations import ReLU
from plugins.datasets import digits
from plugins.layers import BatchNorm, Dropout, Linear
from plugins.losses import CrossEntropyLoss
from plugins.optimizers import Adam


def main() -> int:
    train, test = digits(subset="train"), digits(subset="test")   # X (64, m) in [0, 1]; y (1, m) class indices
    model = Sequential([
        Linear(64, 128, bias=False, seed=0),             # no bias before a batch norm: beta takes its place
        BatchNorm(128),
        ReLU(),
        Dropout(0.2),
        Linear(128, 10, seed=1),                         # logits (10, m): cross_entropy applies the softmax
    ]).seed(0)                                           # the dropout masks
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01),
                      epochs=20, batch_size=64, seed=0, metrics=["accuracy"], progress=False)
    history = trainer.fit(train.X, train.y)

    predicted = model.predict(test.X).argmax(axis=0)     # inference: running statistics, no dropout
    truth = test.y[0].astype(int)
    accuracy = float(np.mean(predicted == truth))
    print(f"trained {len(history.epochs)} epochs on {train.n_examples} images (final training loss "
          f"{history['loss'][-1]:.4f}); test accuracy on {test.n_examples} held-out images: {accuracy:.4f}")
    print("per class (label: correct/total):")
    print("  " + "  ".join(f"{label}: {np.sum((predicted == truth) & (truth == k))}/{np.sum(truth == k)}"
                           for k, label in enumerate(test.classes)))
    wrong = np.flatnonzero(predicted != truth)[:5]
    if wrong.size:
        print("some mistakes: " + ", ".join(f"image {j}: true {test.classes[truth[j]]!r}, predicted "
                                            f"{test.classes[predicted[j]]!r}" for j in wrong))
    print("target test accuracy >= 0.97: " + ("met" if accuracy >= 0.97 else "NOT met"))
    return 0 if accuracy >= 0.97 else 1


if __name__ == "__main__":
    sys.exit(main())
