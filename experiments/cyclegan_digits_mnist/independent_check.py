"""Class preservation of CycleGAN translations, judged by classifiers independent of gan_zoo's metrics.

    gan-zoo translate checkpoint=outputs/train/cyclegan_digits_mnist/<run> out=ab.npz
    python experiments/cyclegan_digits_mnist/independent_check.py ab.npz

Two judges, both trained here on the 4,000 MNIST training digits of data=mnist_mini (32 px, padded), neither
sharing code, weights or architecture with the SmallCNN domain classifier behind val/class_kept_ab:
  * svm:   scikit-learn SVC (RBF, C=5) on raw pixels;
  * lenet: a LeNet-5-style CNN (tanh, average pooling) trained 15 epochs with random affine augmentation
           (rotation 15 deg, shift 2 px, scale 0.85-1.15, shear 10 deg), seed 1.
Each reports its own accuracy on the 1,000 held-out MNIST digits, the share of translations it gives the class
of their source 8x8 digit (the `labels` of the .npz), the same share for the untranslated sources, and the
per-class shares.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.svm import SVC
from torchvision.transforms import v2

from gan_zoo.data import MNISTMiniDataModule


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32) / 255.0


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)  # 32 -> 28 -> 14 -> 10 -> 5
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c2(x)), 2)
        return self.f3(torch.tanh(self.f2(torch.tanh(self.f1(x.flatten(1))))))


def train_lenet(x: torch.Tensor, y: torch.Tensor, epochs: int = 15, seed: int = 1) -> LeNet:
    torch.manual_seed(seed)
    net = LeNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    aug = v2.RandomAffine(degrees=15, translate=(2 / 32, 2 / 32), scale=(0.85, 1.15), shear=10)
    xf = x.float() / 255
    for _ in range(epochs):
        perm = torch.randperm(len(xf))
        for i in range(0, len(xf), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(net(torch.stack([aug(im) for im in xf[idx]])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def shares(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {str(c): round(float((pred[labels == c] == c).mean()), 3) for c in np.unique(labels)}


def main(path: str) -> dict:
    dm = MNISTMiniDataModule(image_size=32, resize="pad", val_fraction=0.2, split_seed=0)
    dm.setup()
    (xt, yt), (xv, yv) = dm.train_set.tensors, dm.val_set.tensors
    z = np.load(path)
    labels = z["labels"]
    svm = SVC(kernel="rbf", C=5.0, gamma="scale").fit(flat(xt.numpy()), yt.numpy())
    lenet = train_lenet(xt, yt)

    def lenet_predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return lenet(torch.from_numpy(x).float() / 255).argmax(1).numpy()

    out: dict = {"num_translations": int(len(labels))}
    for name, predict in (("svm", lambda x: svm.predict(flat(x))), ("lenet", lenet_predict)):
        pred = predict(z["images"])
        out[name] = {
            "heldout_mnist_accuracy": float((predict(xv.numpy()) == yv.numpy()).mean()),
            "class_kept": float((pred == labels).mean()),
            "class_kept_untranslated_sources": float((predict(z["sources"]) == labels).mean()),
            "class_kept_per_class": shares(pred, labels),
        }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1])
