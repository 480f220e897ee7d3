"""DDP strategies for the GAN step on 2 CPU processes (hardware=ddp_sim, gloo): Lightning's
`ddp_find_unused_parameters_true` (the default of hardware=ddp/ddp_sim until this benchmark) against gan_zoo's
`ddp_phase_allreduce` (no DDP wrapper; one all-reduce of the stepped networks' gradients per update,
gan_zoo/strategies.py). `ddp` with find_unused_parameters=False is not a candidate: it fails at the first step.

    OMP_NUM_THREADS=1 python benchmarks/ddp_strategies.py [--repeats 3] [--batches 60]

Each figure is benchmarks/throughput.py's second-epoch throughput of rank 0 (batches/s per rank), the median of
`repeats` interleaved runs (A B A B ...). One line per case ends with `ratio=X.XX` = unused-search throughput /
phase-all-reduce throughput (below 1: the phase all-reduce is faster).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {"dcgan_mnist": [], "wgan_gp_ring8": [], "pacgan_ring8": ["data.batch_size=256"]}
STRATEGIES = ("ddp_find_unused_parameters_true", "ddp_phase_allreduce")


def one(case: str, strategy: str, batches: int) -> float:
    args = [
        sys.executable,
        str(ROOT / "benchmarks" / "throughput.py"),
        f"experiment={case}",
        "hardware=ddp_sim",
        f"hardware.strategy={strategy}",
        f"trainer.limit_train_batches={batches}",
        *CASES[case],
    ]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    m = re.search(r"([\d.]+) batches/s", r.stdout)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"{case} {strategy} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return float(m.group(1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--cases", nargs="*", default=list(CASES))
    a = p.parse_args()
    for case in a.cases:
        runs: dict[str, list[float]] = {s: [] for s in STRATEGIES}
        for _ in range(a.repeats):
            for s in STRATEGIES:
                runs[s].append(one(case, s, a.batches))
        med = {s: statistics.median(v) for s, v in runs.items()}
        print(
            f"{case}: "
            + ", ".join(
                f"{s} {med[s]:.2f} batches/s/rank (runs {', '.join(f'{x:.2f}' for x in runs[s])})" for s in STRATEGIES
            )
            + f" ratio={med[STRATEGIES[0]] / med[STRATEGIES[1]]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
