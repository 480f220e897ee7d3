"""Time and peak memory of FID + KID + IS: gan_zoo's suite vs torch-fidelity vs torchmetrics on the same extractor.

    python benchmarks/metric_cost.py prepare --n 10000            # writes .cache/bench/fakes_10000.npz once
    python benchmarks/metric_cost.py run --impl ours --n 10000 --extractor domain
    python benchmarks/metric_cost.py run --impl fidelity --n 10000 --extractor domain
    python benchmarks/metric_cost.py run --impl torchmetrics --n 10000 --extractor domain  # feature=our extractor
    python benchmarks/metric_cost.py all --n 10000 --extractor domain   # each case in a fresh process

Fakes: N samples of the default DCGAN checkpoint (uint8 .npz, as `gan-zoo sample` writes); reference:
the mnist_mini validation split (1,000 digits). Both sides compute FID, KID (100 subsets of 1,000) and IS
(10 splits) with the same extractor object: `domain` (the cached SmallCNN) or `inception` (torch-fidelity's
Inception-v3 architecture with stand-in random weights: the real file cannot be downloaded here; the cost is
the same, the values are meaningless). Each case runs in its own process so its peak RSS
(ru_maxrss) is its own. `--cache warm` lets both sides reuse cached real statistics/features.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".cache" / "bench"


def datamodule():
    from gan_zoo.data import MNISTMiniDataModule

    dm = MNISTMiniDataModule(batch_size=64)
    dm.setup("fit")
    return dm


def extractor(kind: str, dm):
    from gan_zoo.metrics.domain import load_or_train_extractor
    from gan_zoo.metrics.extractors import DomainExtractor, InceptionExtractor
    from gan_zoo.utils.io import sha256_file

    if kind == "domain":
        model, info = load_or_train_extractor(dm, ROOT / ".cache")
        return DomainExtractor(model, info)
    path = BENCH / "inception_standin.pth"
    if not path.exists():
        sys.path.insert(0, str(ROOT / "tests"))
        from helpers import write_standin_inception

        BENCH.mkdir(parents=True, exist_ok=True)
        write_standin_inception(path)
    return InceptionExtractor(str(path), sha256=sha256_file(path))


def prepare(n: int, checkpoint: str) -> Path:
    from gan_zoo.build import load_checkpoint_gan
    from gan_zoo.data.images import to_uint8_images

    out = BENCH / f"fakes_{n}.npz"
    if out.exists():
        return out
    gan, _ = load_checkpoint_gan(checkpoint)
    x, _ = gan.sample(n, seed=0)
    BENCH.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=to_uint8_images(x).numpy())
    return out


def run_case(impl: str, n: int, kind: str, cache: str, batch_size: int) -> dict:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    dm = datamodule()
    ext = extractor(kind, dm)
    fakes_path = BENCH / f"fakes_{n}.npz"
    cache_dir = str(BENCH / "stats_cache") if cache == "warm" else None
    t0 = time.perf_counter()
    if impl == "ours":
        import functools

        from gan_zoo.metrics.features import npz_source, prepare_images
        from gan_zoo.metrics.suite import ImageEvaluator

        ev = ImageEvaluator(
            dm,
            ext,
            ["fid", "kid", "is"],
            num_fake=n,
            cache_dir=cache_dir,
            batch_size=batch_size,
            seed=2020,
            kid_subsets=100,
            kid_subset_size=1000,
            floor=False,
        )  # floor: not compared
        prep = functools.partial(prepare_images, channels=1, size=32, resize="pad")
        vals = {v["metric"]: v["value"] for v in ev.score(npz_source(fakes_path, batch_size, prep))}
        out = {"fid": vals["fid"], "kid": vals["kid_mean"], "is": vals["is_mean"]}
    elif impl == "torchmetrics":  # the same extractor object as torchmetrics' `feature`; reals re-extracted per run
        from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance

        from gan_zoo.metrics.torchmetrics_compat import ExtractorFeatures, ExtractorLogits

        fakes = torch.from_numpy(np.load(fakes_path)["images"])
        reals = dm.val_set.tensors[0]
        feats = ExtractorFeatures(ext)
        fid = FrechetInceptionDistance(feature=feats, reset_real_features=False)
        kid = KernelInceptionDistance(
            feature=feats, subsets=100, subset_size=min(1000, len(fakes), len(reals)), reset_real_features=False
        )
        isc = InceptionScore(feature=ExtractorLogits(ext), splits=10)
        torch.manual_seed(2020)
        for i in range(0, len(reals), batch_size):
            for metric in (fid, kid):
                metric.update(reals[i : i + batch_size], real=True)
        for i in range(0, len(fakes), batch_size):
            for metric in (fid, kid):
                metric.update(fakes[i : i + batch_size], real=False)
            isc.update(fakes[i : i + batch_size])
        out = {"fid": float(fid.compute()), "kid": float(kid.compute()[0]), "is": float(isc.compute()[0])}
    else:
        import torch_fidelity

        from gan_zoo.metrics.fidelity_compat import UInt8Images, register_extractor

        name = register_extractor(ext, f"bench-{kind}")
        fakes = torch.from_numpy(np.load(fakes_path)["images"])
        reals = dm.val_set.tensors[0]
        kw = dict(
            cache=cache == "warm", cache_root=str(BENCH / "fidelity_cache"), input2_cache_name=f"mnist_val_{kind}"
        )
        if cache != "warm":
            kw = {"cache": False}
        r = torch_fidelity.calculate_metrics(
            input1=UInt8Images(fakes),
            input2=UInt8Images(reals),
            feature_extractor=name,
            cuda=False,
            fid=True,
            kid=True,
            isc=True,
            kid_subsets=100,
            kid_subset_size=1000,
            rng_seed=2020,
            batch_size=batch_size,
            verbose=False,
            save_cpu_ram=True,
            **kw,
        )
        out = {
            "fid": r["frechet_inception_distance"],
            "kid": r["kernel_inception_distance_mean"],
            "is": r["inception_score_mean"],
        }
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "impl": impl,
        "n": n,
        "extractor": kind,
        "cache": cache,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "seconds": round(wall, 2),
        "peak_rss_mb": round(peak_mb, 1),
        **out,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["prepare", "run", "all"])
    p.add_argument("--impl", choices=["ours", "fidelity", "torchmetrics"], default="ours")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--extractor", choices=["domain", "inception"], default="domain")
    p.add_argument("--cache", choices=["cold", "warm"], default="cold")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--checkpoint", default=str(ROOT / "outputs/train/dcgan_mnist/final/checkpoints/best.ckpt"))
    a = p.parse_args()
    if a.cmd == "prepare":
        print(prepare(a.n, a.checkpoint))
    elif a.cmd == "run":
        print(json.dumps(run_case(a.impl, a.n, a.extractor, a.cache, a.batch_size)))
    else:
        prepare(a.n, a.checkpoint)
        for impl in ("ours", "fidelity", "torchmetrics"):
            cmd = [
                sys.executable,
                __file__,
                "run",
                "--impl",
                impl,
                "--n",
                str(a.n),
                "--extractor",
                a.extractor,
                "--cache",
                a.cache,
                "--batch-size",
                str(a.batch_size),
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            print(res.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
