"""The notes' multi-variable linear regression, defined in Python, checked
against the closed-form least-squares optimum (numpy.linalg.lstsq).

    python experiments/linear_regression.py

Stated quality: the trained model's training MSE is within 1% of the
least-squares optimum.
"""

import sys

import numpy as np

from framework import Experiment, run_experiment

experiment = Experiment(
    name="linear_regression_py",
    seed=0,
    model={"layers": [{"type": "linear", "out_features": 1}]},  # w: (1, F), b: (1, 1)
    loss={"type": "mse"},
    optimizer={"type": "sgd", "lr": 0.05},
    data={"source": {"type": "synthetic_linear", "n_samples": 1000, "n_features": 10, "noise": 0.1}},
    trainer={"epochs": 30, "batch_size": 50, "progress": False},
)


def main() -> int:
    result = run_experiment(experiment)
    from framework.experiment import build_dataset

    data = build_dataset(experiment)
    X, y = data.X, data.y
    design = np.vstack([X, np.ones((1, X.shape[1]))]).T
    coef, *_ = np.linalg.lstsq(design, y.ravel(), rcond=None)
    optimum = float(np.mean((design @ coef - y.ravel()) ** 2))
    mse = result.trainer.evaluate(X, y)["loss"]
    gap = mse / optimum - 1
    print(f"training MSE {mse:.6g}, least-squares optimum {optimum:.6g}: {100 * gap:.3f}% above")
    print(f"learned w {np.round(result.model[0].W.data.ravel(), 3)}")
    print(f"true    w {np.round(data.info['true_w'], 3)}")
    ok = gap <= 0.01
    print("quality target (within 1% of the optimum):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
