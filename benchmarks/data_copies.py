"""Load the benchmark copies kept in data/ and print, per data set, the layout found, the split sizes, the load time
and the sha256 of the decoded training and test arrays (what experiment records name the copy by).

    python benchmarks/data_copies.py [cifar10 mnist fashion_mnist]   # roots: data/<name>; cache: $GAN_ZOO_CACHE
"""

from __future__ import annotations

import json
import sys
import time

from gan_zoo.data import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule

MODULES = {"cifar10": CIFAR10DataModule, "mnist": MNISTDataModule, "fashion_mnist": FashionMNISTDataModule}


def main(names: list[str]) -> None:
    for name in names or list(MODULES):
        t0 = time.perf_counter()
        dm = MODULES[name](root=f"data/{name}")
        dm.setup("fit")
        info = dm.source_info()
        print(json.dumps({**info, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
