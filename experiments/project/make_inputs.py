"""Write the two input files of the projection measurement (docs/project.md), with gan_zoo's own loaders.

    python experiments/project/make_inputs.py [--out DIR]

- mnist_test_500.npz: the first 50 digits of each class of the official MNIST test set, in file order
  (data/mnist, IDX files); `images` uint8 [500, 1, 28, 28], `labels` int64 (the digit, which conditional games
  may use).
- fashion_test_500.npz: the first 50 sorted file names of each class of the Fashion-MNIST test set
  (data/fashion_mnist/test/<class>); `images` uint8 [500, 1, 28, 28], `classes` int64 (the garment; not called
  `labels`, so that no digit game takes them for digit classes).

Both keep the images at their stored 28 px: `gan-zoo project` brings them to the run's protocol.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gan_zoo.data.standard import first_n_indices, load_class_folder, load_mnist_like

PER_CLASS = 50


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` items of each class in file order, ascending."""
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]))


def main() -> None:
    """Write both files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/project", help="folder for the two .npz files")
    ap.add_argument("--mnist", default="data/mnist")
    ap.add_argument("--fashion", default="data/fashion_mnist")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = load_mnist_like(args.mnist, "mnist").test
    idx = first_per_class(test.labels, PER_CLASS)
    np.savez(out / "mnist_test_500.npz", images=test.images[idx], labels=test.labels[idx].astype(np.int64))
    fashion, _ = load_class_folder(Path(args.fashion) / "test", 1, (28, 28))
    idx = first_n_indices(fashion.labels, 10 * PER_CLASS, per_class=True)  # class folders: first 50 sorted names
    np.savez(out / "fashion_test_500.npz", images=fashion.images[idx], classes=fashion.labels[idx].astype(np.int64))
    for name in ("mnist_test_500.npz", "fashion_test_500.npz"):
        with np.load(out / name) as z:
            print(name, {k: (str(z[k].dtype), list(z[k].shape)) for k in z.files})


if __name__ == "__main__":
    main()
