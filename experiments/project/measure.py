"""Score two `gan-zoo project` outputs: MNIST digits (in-distribution) and Fashion-MNIST garments (novel).

    python experiments/project/measure.py outputs/project/mnist_proj.npz outputs/project/fashion_proj.npz
    python experiments/project/measure.py M1.npz F1.npz M2.npz F2.npz ... --mnist-input SUBSET.npz   # several pairs

- class kept: the share of MNIST reconstructions whose class, by a classifier that is not the one in the objective
  (scikit-learn: PCA to 50 dimensions, then 3-nearest neighbours, fitted on the 60,000 pixels of the official MNIST
  training split; its accuracy on the whole 10,000-image test split is printed), equals the digit's label;
- pixel L1: mean |reconstruction - target| in [0, 1] of the pixel range, over the 32 px images;
- AUROC of `distances`: MNIST (label 0) against Fashion-MNIST (label 1), sklearn.metrics.roc_auc_score.
Prints one JSON object per (MNIST, Fashion-MNIST) pair; the classifier is fitted once for all pairs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from gan_zoo.data.standard import load_mnist_like


def crop28(images: np.ndarray) -> np.ndarray:
    """[N, 1, 32, 32] padded digits -> [N, 784] floats in [0, 1] (the 28 px digit the pad centred)."""
    h = images.shape[-1]
    o = (h - 28) // 2
    return images[:, 0, o : o + 28, o : o + 28].reshape(len(images), -1).astype(np.float32) / 255


def score(clf, test_acc: float, mnist_proj: str, fashion_proj: str, mnist_input: str) -> dict:
    """The measurement of one pair of projection files."""
    m, f = np.load(mnist_proj), np.load(fashion_proj)
    labels = np.load(mnist_input)["labels"][: len(m["images"])]
    pred_rec = clf.predict(crop28(m["images"]))
    pred_tgt = clf.predict(crop28(m["targets"]))
    l1 = lambda z: float(np.abs(z["images"].astype(np.float32) - z["targets"].astype(np.float32)).mean() / 255)  # noqa: E731
    y = np.r_[np.zeros(len(m["distances"])), np.ones(len(f["distances"]))]
    auroc = float(roc_auc_score(y, np.r_[m["distances"], f["distances"]]))
    return {
        "mnist": mnist_proj,
        "fashion": fashion_proj,
        "classifier": "sklearn PCA(50) + 3-NN on the 60,000 MNIST training pixels",
        "classifier_test_accuracy": round(test_acc, 4),
        "classifier_accuracy_on_the_targets": round(float((pred_tgt == labels).mean()), 4),
        "class_kept": round(float((pred_rec == labels).mean()), 4),
        "mnist_pixel_l1": round(l1(m), 4),
        "fashion_pixel_l1": round(l1(f), 4),
        "mnist_mean_distance": round(float(m["distances"].mean()), 5),
        "fashion_mean_distance": round(float(f["distances"].mean()), 5),
        "auroc_distances": round(auroc, 4),
    }


def main() -> None:
    """Print the measurement as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="MNIST projection, Fashion-MNIST projection (repeat for more pairs)")
    ap.add_argument("--mnist-input", default="outputs/project/mnist_test_500.npz")
    ap.add_argument("--mnist", default="data/mnist")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give the projections in pairs: MNIST.npz FASHION.npz [MNIST2.npz FASHION2.npz ...]")
    data = load_mnist_like(args.mnist, "mnist")
    clf = make_pipeline(PCA(50, random_state=0), KNeighborsClassifier(3))
    clf.fit(data.train.images.reshape(len(data.train), -1).astype(np.float32) / 255, data.train.labels)
    test_acc = float((clf.predict(data.test.images.reshape(len(data.test), -1) / 255.0) == data.test.labels).mean())
    for mp, fp in zip(args.pairs[::2], args.pairs[1::2]):
        print(json.dumps(score(clf, test_acc, mp, fp, args.mnist_input), indent=1))


if __name__ == "__main__":
    main()
