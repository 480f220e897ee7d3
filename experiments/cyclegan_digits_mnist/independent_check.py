"""Class preservation of CycleGAN translations, judged by a classifier independent of gan_zoo's metrics.

    gan-zoo translate checkpoint=outputs/train/cyclegan_digits_mnist/<run> out=ab.npz
    python experiments/cyclegan_digits_mnist/independent_check.py ab.npz

The judge is an RBF support-vector machine (scikit-learn) on raw pixels, trained on the 4,000 MNIST training
digits of data=mnist_mini (32 px, padded) - another model family, another library and no shared weights with
the SmallCNN domain classifier behind val/class_kept_ab. It reports its own accuracy on the 1,000 held-out
MNIST digits, then the share of translations it gives the class of their source 8x8 digit (the `labels` of the
.npz), beside the same share for the untranslated sources (`sources`).
"""

from __future__ import annotations

import json
import sys

import numpy as np
from sklearn.svm import SVC

from gan_zoo.data import MNISTMiniDataModule


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32) / 255.0


def main(path: str) -> dict[str, float]:
    dm = MNISTMiniDataModule(image_size=32, resize="pad", val_fraction=0.2, split_seed=0)
    dm.setup()
    (xt, yt), (xv, yv) = dm.train_set.tensors, dm.val_set.tensors
    svm = SVC(kernel="rbf", C=5.0, gamma="scale").fit(flat(xt.numpy()), yt.numpy())
    z = np.load(path)
    out = {
        "judge": "sklearn SVC(rbf, C=5) on raw 32 px pixels, trained on the 4,000 mnist_mini training digits",
        "judge_heldout_mnist_accuracy": float((svm.predict(flat(xv.numpy())) == yv.numpy()).mean()),
        "num_translations": int(len(z["images"])),
        "class_kept": float((svm.predict(flat(z["images"])) == z["labels"]).mean()),
        "class_kept_untranslated_sources": float((svm.predict(flat(z["sources"])) == z["labels"]).mean()),
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1])
