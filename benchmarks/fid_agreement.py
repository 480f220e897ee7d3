"""`gan-zoo evaluate ... extractor=inception metrics=[fid]` vs torch_fidelity.calculate_metrics on the same images.

    python benchmarks/fid_agreement.py --samples fakes.npz --report evaluate.json [--num-real 250]

Takes the FID from an evaluate JSON report (data=cifar10, reference = the first num_real training images) and
recomputes it with torch-fidelity's own pipeline (its FeatureExtractorInceptionV3 forward, float32 features,
its FID) on the same fakes and the same reference images, with the weights the report names.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch


def main() -> None:
    """Print both FIDs and their relative difference."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--root", default="data/cifar10")
    ap.add_argument("--num-real", type=int, default=250)
    ap.add_argument("--cache", default=".cache")
    args = ap.parse_args()
    torch.set_num_threads(2)
    import torch_fidelity

    from gan_zoo.data import CIFAR10DataModule
    from gan_zoo.metrics.fidelity_compat import UInt8Images
    from gan_zoo.metrics.inception_weights import find_inception_weights

    rep = json.load(open(args.report))
    ours = next(v for v in rep["values"] if v["metric"] == "fid")
    weights = find_inception_weights(None, args.cache)
    assert ours["protocol"]["extractor"]["weights"] == weights.name, "the report used other weights"
    dm = CIFAR10DataModule(root=args.root, cache_dir=args.cache)
    dm.setup("fit")
    reals, _ = dm.first_n(args.num_real, "train")
    fakes = torch.from_numpy(np.load(args.samples)["images"])
    theirs = torch_fidelity.calculate_metrics(
        input1=UInt8Images(fakes),
        input2=UInt8Images(reals),
        fid=True,
        batch_size=250,
        cuda=False,
        verbose=False,
        cache=False,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights),
    )["frechet_inception_distance"]
    print(
        f"gan_zoo evaluate FID {ours['value']:.7f}  torch-fidelity {theirs:.7f}  relative difference "
        f"{abs(ours['value'] - theirs) / theirs:.1e}  ({len(fakes)} fakes vs {len(reals)} reals, {weights.name})"
    )


if __name__ == "__main__":
    main()
