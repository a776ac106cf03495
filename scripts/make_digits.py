"""Regenerate resources/samples/digits.npz from the copy of the UCI digits that scikit-learn ships.

Fixed, stratified split (seed 0): 1437 training and 360 test images, 8x8x1 float32 in [0, 1],
integer labels 0-9. Run: ``python scripts/make_digits.py`` (needs scikit-learn).
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

OUT = Path(__file__).resolve().parents[1] / "resources" / "samples" / "digits.npz"


def main() -> None:
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=360, random_state=0, stratify=y
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    print(f"wrote {OUT}: train {x_train.shape}, test {x_test.shape}")


if __name__ == "__main__":
    main()
