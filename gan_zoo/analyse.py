"""What people do with a trained generator (docs/references.md §7 and §12): `gan-zoo analyse MODE
checkpoint=RUN out=DIR`.

    gan-zoo analyse interpolate checkpoint=outputs/train/dcgan_mnist/RUN out=an/         # slerp rows in z
    gan-zoo analyse label-sweep checkpoint=outputs/train/cgan_mnist/RUN out=an/          # fixed z, every class
    gan-zoo analyse traverse checkpoint=outputs/train/infogan_mnist/RUN out=an/          # InfoGAN codes
    gan-zoo analyse truncation checkpoint=RUN out=an/ thresholds=[0.5,1.0,2.0]           # fidelity vs diversity
    gan-zoo analyse steer checkpoint=RUN out=an/ target=3 num=500                        # classifier-gradient control
    gan-zoo analyse augment checkpoint=outputs/train/cgan_mnist/RUN out=an/              # accuracy vs share of
    real data
    gan-zoo analyse mixing checkpoint=outputs/train/stylegan_mnist/RUN out=an/           # coarse/middle/fine styles

Every mode writes under `out`: PNG pictures, and CSV/JSON/NPZ where it measures something; `summary.json`
lists what was written. Every option has a default. On style-based models `interpolate` adds rows
interpolated in w and `truncation` truncates w (`psis=`, from 0, the mean w, to 1, none) instead of z (`thresholds=`).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from gan_zoo.build import build_image_evaluator, instantiate_checked, load_checkpoint_gan
from gan_zoo.callbacks.samples import save_image_grid
from gan_zoo.data.images import to_uint8_images
from gan_zoo.errors import exit_on_user_error, require, require_bool, require_int
from gan_zoo.models.base import eval_mode
from gan_zoo.models.contract import capabilities_of, check_truncation_keys, require_capability
from gan_zoo.sample import apply_noise_mode, apply_truncation
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import check_outputs, check_writable_folder, output_folder

log = logging.getLogger("gan_zoo")
MODES = ("interpolate", "label-sweep", "truncation", "traverse", "steer", "mixing", "augment")
Z_THRESHOLDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # truncation in z: T in std (3.0 is close to no truncation)
W_PSIS = (0.0, 0.25, 0.5, 0.75, 1.0)  # truncation in w: 0 the mean w, 1 none
# The start of the name of every file a mode writes under `out` (with summary.json): what overwrite= guards.
MODE_FILES = {
    "interpolate": "interpolate_",
    "label-sweep": "label_sweep.",
    "truncation": "truncation",
    "traverse": "traverse_",
    "steer": "steer",
    "mixing": "mixing_",
    "augment": "augment",
}


# ------------------------------------------------------------------------------------------------ latent maths
def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of z0 and z1 at fractions t: [N, D], [N, D], [T] -> [N, T, D].

    Follows the great circle between the two directions while the norm moves linearly between the two
    norms, so every point has the norm of a typical Gaussian sample (White 2016); falls back to linear
    interpolation for (nearly) parallel vectors.
    """
    n0, n1 = z0.norm(dim=1, keepdim=True), z1.norm(dim=1, keepdim=True)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.acos((u0 * u1).sum(1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))  # [N, 1]
    t = t.view(1, -1, 1)
    so = torch.sin(omega)[:, None]  # [N, 1, 1]
    w0 = torch.where(so > 1e-6, torch.sin((1 - t) * omega[:, None]) / so, 1 - t)
    w1 = torch.where(so > 1e-6, torch.sin(t * omega[:, None]) / so, t)
    direction = w0 * u0[:, None] + w1 * u1[:, None]
    direction = direction / direction.norm(dim=2, keepdim=True)
    norm = (1 - t) * n0[:, None] + t * n1[:, None]
    return direction * norm


def latent_of(gan: Any, n: int, seed: int) -> torch.Tensor:
    """n noise vectors from a seeded generator (the model's own prior)."""
    g = torch.Generator(device=gan.device).manual_seed(seed)
    return gan.noise(n, g)


def conditions_for_rows(gan: Any, rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """Conditions that are constant along a row: class `rows % K` (conditional), code `rows % K` with
    continuous codes at 0 (InfoGAN), none otherwise."""
    caps = capabilities_of(gan)
    if caps.codes:
        k = gan.code_categories
        return {"codes": rows % k, "continuous_codes": torch.zeros(len(rows), gan.code_continuous, device=gan.device)}
    if caps.labels:
        return {"labels": rows % gan.num_classes}
    return {}


# ------------------------------------------------------------------------------------------------ modes
def interpolate(gan: Any, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """`rows` rows of `steps` images: slerp between two seeded z, conditions fixed per row."""
    rows, steps = int(cfg.rows), int(cfg.steps)
    z = latent_of(gan, 2 * rows, cfg.seed)
    path = slerp(z[:rows], z[rows:], torch.linspace(0, 1, steps, device=gan.device)).reshape(rows * steps, -1)
    conds = conditions_for_rows(gan, torch.arange(rows, device=gan.device).repeat_interleave(steps))
    x = gan.synthesize_in_chunks(path, conds, cfg.batch_size)
    save_image_grid(x, out / "interpolate_z.png", nrow=steps)
    np.savez(out / "interpolate_z.npz", images=to_uint8_images(x).cpu().numpy(), z=path.cpu().numpy())
    result = {
        "pictures": ["interpolate_z.png"],
        "arrays": ["interpolate_z.npz"],
        "rows": rows,
        "steps": steps,
        "what": "each row: slerp from one seeded z to another, conditions fixed along the row",
    }
    if capabilities_of(gan).w_space:  # style models: the same endpoints, interpolated linearly in w
        w = gan.sampling_styles(z)  # [2 rows, layers, w_dim] (truncated when set)
        t = torch.linspace(0, 1, steps, device=gan.device).view(1, -1, 1, 1)
        ws = torch.lerp(w[:rows, None], w[rows:, None], t).reshape(rows * steps, *w.shape[1:])
        xw = gan.images_from_styles(ws, cfg.batch_size)
        save_image_grid(xw, out / "interpolate_w.png", nrow=steps)
        np.savez(out / "interpolate_w.npz", images=to_uint8_images(xw).cpu().numpy(), w=ws[:, 0].cpu().numpy())
        result["pictures"].append("interpolate_w.png")
        result["arrays"].append("interpolate_w.npz")
        result["what"] += (
            "; interpolate_w.png: the same endpoints, linear interpolation in w (the mapping network's "
            "output, where StyleGAN measures perceptual path length)"
        )
    return result


def mixing(gan: Any, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Style-mixing grids (Karras et al. 2019, fig. 3): the left column's images (seed A) take the top row's
    styles (seed B) at the coarse, middle or fine layers; the other layers keep A's styles."""
    require_capability(
        gan,
        "w_space",
        f"mixing needs a style-based model (e.g. experiment=stylegan_mnist); "
        f"{type(gan).__name__} has no per-layer styles",
    )
    net = gan.sampling_generator
    rows, cols, k = int(cfg.rows), int(cfg.cols), net.per_level
    require(rows >= 1 and cols >= 1, f"rows and cols must be >= 1, got {rows} and {cols}")
    w_a = gan.sampling_styles(latent_of(gan, rows, cfg.seed))  # destinations (left column)
    w_b = gan.sampling_styles(latent_of(gan, cols, cfg.seed + 1))  # style sources (top row)
    x_a, x_b = gan.images_from_styles(w_a, cfg.batch_size), gan.images_from_styles(w_b, cfg.batch_size)
    levels = net.levels
    groups = {
        "coarse": [lv for lv in range(levels) if 4 * 2**lv <= 8 and lv < levels - 1],
        "middle": [lv for lv in range(levels) if 4 * 2**lv > 8 and lv < levels - 1],
        "fine": [levels - 1],
    }
    pictures, arrays, spans = [], [], {}
    blank = torch.full_like(x_a[:1], -1.0)
    for name, lvs in groups.items():
        if not lvs:
            continue
        layers = [j for lv in lvs for j in range(k * lv, k * (lv + 1))]
        mask = torch.zeros(net.num_layers, dtype=torch.bool, device=gan.device)
        mask[layers] = True
        ws = torch.where(mask.view(1, 1, -1, 1), w_b[None], w_a[:, None]).reshape(rows * cols, *w_a.shape[1:])
        mixed = gan.images_from_styles(ws, cfg.batch_size).reshape(rows, cols, *x_a.shape[1:])
        tiles = [blank, x_b] + [torch.cat([x_a[i : i + 1], mixed[i]]) for i in range(rows)]
        save_image_grid(torch.cat(tiles), out / f"mixing_{name}.png", nrow=cols + 1)
        np.savez(
            out / f"mixing_{name}.npz",
            images=to_uint8_images(mixed.flatten(0, 1)).cpu().numpy(),
            destination=to_uint8_images(x_a).cpu().numpy(),
            source=to_uint8_images(x_b).cpu().numpy(),
        )
        pictures.append(f"mixing_{name}.png")
        arrays.append(f"mixing_{name}.npz")
        spans[name] = {"resolutions_px": [4 * 2**lv for lv in lvs], "style_layers": layers}
    return {
        "pictures": pictures,
        "arrays": arrays,
        "rows": rows,
        "cols": cols,
        "groups": spans,
        "what": "mixing_<group>.png: top row the style sources (seed+1), left column the destinations (seed); "
        "each cell is its row's image with its column's styles at that group's resolutions",
    }


def label_sweep(gan: Any, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """`rows` fixed z, each through every class."""
    require_capability(
        gan,
        "labels",
        "label-sweep needs a conditional model (model.conditional=true, e.g. cgan_mnist); for InfoGAN use traverse",
    )
    rows, k = int(cfg.rows), gan.num_classes
    z = latent_of(gan, rows, cfg.seed).repeat_interleave(k, dim=0)
    labels = torch.arange(rows * k, device=gan.device) % k
    x = gan.synthesize_in_chunks(z, {"labels": labels}, cfg.batch_size)
    save_image_grid(x, out / "label_sweep.png", nrow=k)
    np.savez(out / "label_sweep.npz", images=to_uint8_images(x).cpu().numpy(), labels=labels.cpu().numpy())
    return {
        "pictures": ["label_sweep.png"],
        "arrays": ["label_sweep.npz"],
        "rows": rows,
        "classes": k,
        "what": "each row one z, each column one class",
    }


def traverse(gan: Any, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """InfoGAN: the categorical code across columns (fixed z per row), then each continuous code from -2 to 2."""
    require_capability(gan, "codes", "traverse needs an InfoGAN checkpoint (model=infogan)")
    rows, k, c = int(cfg.rows), gan.code_categories, gan.code_continuous
    z = latent_of(gan, rows, cfg.seed)
    zc = z.repeat_interleave(k, dim=0)
    codes = torch.arange(rows * k, device=gan.device) % k
    x = gan.synthesize_in_chunks(
        zc, {"codes": codes, "continuous_codes": torch.zeros(len(zc), c, device=gan.device)}, cfg.batch_size
    )
    save_image_grid(x, out / "traverse_categorical.png", nrow=k)
    pictures = ["traverse_categorical.png"]
    steps = int(cfg.steps)
    values = torch.linspace(-2, 2, steps, device=gan.device)
    for j in range(c):
        zj = z.repeat_interleave(steps, dim=0)
        cont = torch.zeros(rows * steps, c, device=gan.device)
        cont[:, j] = values.repeat(rows)
        codes_j = torch.arange(rows, device=gan.device).repeat_interleave(steps) % k
        xj = gan.synthesize_in_chunks(zj, {"codes": codes_j, "continuous_codes": cont}, cfg.batch_size)
        save_image_grid(xj, out / f"traverse_continuous_{j}.png", nrow=steps)
        pictures.append(f"traverse_continuous_{j}.png")
    return {
        "pictures": pictures,
        "rows": rows,
        "codes": k,
        "continuous_codes": c,
        "what": "categorical: one z per row, one code per column; continuous_j: code j from -2 to 2 "
        "(training prior U(-1, 1)), categorical code = row index mod K",
    }


def _reference_evaluator(info: dict[str, Any], cfg: DictConfig, names: list[str], num: int) -> Any:
    """The suite on the run's own data (domain extractor, held-out split), for `num` samples."""
    run_cfg = OmegaConf.create(info["config"])
    require(
        run_cfg.metrics.get("kind") == "image" or "extractor" in run_cfg.metrics,
        "this mode scores images in the domain classifier's features; the checkpoint was not trained on images",
    )
    dm = instantiate_checked(run_cfg.data, "data")
    mcfg = OmegaConf.merge(run_cfg.metrics, {"num_fake": num, "num_real": None, "split": "val"})
    return build_image_evaluator(mcfg, dm, cfg.paths.cache_dir, key_prefix="", device=cfg.device, names=names)


def truncation(gan: Any, info: dict[str, Any], cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Samples at each truncation value (z resampled beyond T std, docs/references.md §7, or psi in w) with FID,
    precision and recall."""
    space = capabilities_of(gan).truncation
    require(
        space is not None,
        f"truncation needs a GAN with a truncation setting; {type(gan).__name__} has "
        "none (its noise goes through the decoder as drawn): use interpolate",
    )
    check_truncation_keys(gan, [k for k in ("thresholds", "psis", "psi_cutoff") if cfg.get(k) is not None])
    in_w = space == "w"
    key, column = ("psis", "psi") if in_w else ("thresholds", "threshold")
    given = cfg.get(key)
    values = [float(p) for p in (given if given is not None else W_PSIS if in_w else Z_THRESHOLDS)]
    require(
        values and all(p >= 0 if in_w else p > 0 for p in values),
        f"{key} must be {'non-negative' if in_w else 'positive'} numbers, got {values}",
    )
    num = int(cfg.num or 1000)
    evaluator = _reference_evaluator(info, cfg, ["fid", "pr"], num)
    rows, grid = [], []
    for value in values:
        if in_w:
            apply_truncation(gan, psi=value, psi_cutoff=cfg.get("psi_cutoff"))
        else:
            apply_truncation(gan, threshold=value)
        scores = evaluator.compute(gan)
        pick = {
            k.split("_domain")[0].split("_inception")[0]: v
            for k, v in scores.items()
            if k.startswith(("fid", "precision", "recall")) and "floor" not in k
        }
        rows.append({column: value, **pick})
        x, _ = gan.generate(int(cfg.rows) * 8, seed=cfg.seed)
        grid.append(x)
        log.info("%s %.2f: %s", column, value, pick)
    if in_w:
        gan.set_psi(None)
    else:
        gan.set_truncation(None)
    save_image_grid(torch.cat(grid), out / "truncation_samples.png", nrow=int(cfg.rows) * 8)
    keys = list(rows[0])
    with open(out / "truncation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    _plot(
        out / "truncation.png",
        [r[column] for r in rows],
        {k: [r[k] for r in rows] for k in keys if k in ("precision", "recall")},
        "psi (w -> w_avg + psi (w - w_avg))" if in_w else "truncation threshold T (z resampled beyond T std)",
        f"precision / recall, {num} samples, domain features",
        "the fidelity / diversity trade-off",
    )
    return {
        "pictures": ["truncation.png", "truncation_samples.png"],
        "tables": ["truncation.csv"],
        "values": rows,
        "num_samples_per_value": num,
        "truncated": "w (towards the running mean w)" if in_w else "z (resampled)",
        "what": f"one row of truncation_samples.png per {column} (same seed); precision and recall against {column}",
    }


def steer(gan: Any, info: dict[str, Any], cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Move z (G frozen) by gradient ascent on log p(target | G(z)) of the domain classifier, with a Gaussian
    prior term that keeps z typical; report how the target and every other class move."""
    from gan_zoo.metrics.domain import extractor_options, load_or_train_extractor

    run_cfg = OmegaConf.create(info["config"])
    dm = instantiate_checked(run_cfg.data, "data")
    dm.setup("fit")
    require(
        dm.num_classes >= 2, "steer needs a labelled dataset to train its classifier on (the run's data has no classes)"
    )
    k = dm.num_classes
    target = int(cfg.target)
    require(0 <= target < k, f"target must be a class in [0, {k - 1}], got {target}")
    classifier, cinfo = load_or_train_extractor(dm, cfg.paths.cache_dir, **extractor_options(run_cfg.metrics))
    classifier = classifier.to(gan.device).eval().requires_grad_(False)
    num, iters = int(cfg.num or 500), int(cfg.iterations)
    z0 = latent_of(gan, num, cfg.seed)
    conds = conditions_for_rows(gan, torch.arange(num, device=gan.device))
    net = gan.sampling_generator
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    flags = [p.requires_grad for p in net.parameters()]
    net.requires_grad_(False)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=float(cfg.lr))
    trace = []
    try:
        with eval_mode(net):
            for it in range(iters + 1):
                probs_all = []
                opt.zero_grad(set_to_none=True)
                for i in range(0, num, cfg.batch_size):
                    sl = slice(i, i + cfg.batch_size)
                    x = gan.synthesize(net, z[sl], {c: v[sl] for c, v in conds.items()})
                    logp = F.log_softmax(classifier(x), dim=1)
                    probs_all.append(logp.detach().exp())
                    if it < iters:  # the last pass only measures
                        prior = 0.5 * z[sl].pow(2).sum(1)  # -log N(z; 0, I) up to a constant
                        loss = (-logp[:, target] + float(cfg.prior_weight) * prior).sum() / num
                        loss.backward()
                probs = torch.cat(probs_all)
                trace.append(probs.mean(0).cpu())
                if it < iters:
                    opt.step()
    finally:
        for p, f in zip(net.parameters(), flags):
            p.requires_grad_(f)
    require(
        all(torch.equal(before[n], p.detach()) for n, p in net.named_parameters()),
        "steering changed the generator's weights",
    )  # a guarantee the tests rely on
    z_final = z.detach()
    x_start = gan.synthesize_in_chunks(z0, conds, cfg.batch_size)
    x_end = gan.synthesize_in_chunks(z_final, conds, cfg.batch_size)
    from gan_zoo.metrics.judges import load_or_train_judge

    judge, jinfo = load_or_train_judge(dm, cfg.paths.cache_dir)  # a second classifier: the claim does not rest on
    judge = judge.to(gan.device)  # the one that was optimised against
    with torch.no_grad():
        pred_start, pred_end = classifier(x_start).argmax(1), classifier(x_end).argmax(1)
        judge_start, judge_end = judge(x_start).argmax(1), judge(x_end).argmax(1)
    trace_t = torch.stack(trace)  # [iters + 1, K]: mean class probabilities along the way
    np.savez(
        out / "steer.npz",
        images=to_uint8_images(x_end).cpu().numpy(),
        labels=np.full(num, target, dtype=np.int64),
        start_images=to_uint8_images(x_start).cpu().numpy(),
    )
    shown = min(num, 16)
    save_image_grid(torch.cat([x_start[:shown], x_end[:shown]]), out / "steer.png", nrow=shown)
    with open(out / "steer_trace.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", *[f"p_class_{c}" for c in range(k)]])
        for it, row in enumerate(trace_t.tolist()):
            w.writerow([it, *[f"{v:.6f}" for v in row]])
    _plot(
        out / "steer_correlation.png",
        list(range(iters + 1)),
        {f"class {c}{' (target)' if c == target else ''}": trace_t[:, c].tolist() for c in range(k)},
        "steering iteration (Adam on z, G frozen)",
        "mean classifier probability over the samples",
        f"steering towards {target}: how every class output moves",
    )
    # how each other class output moves with the target output, over the iterations
    t = trace_t[:, target]
    corr = {
        c: float(np.corrcoef(t.numpy(), trace_t[:, c].numpy())[0, 1]) if trace_t[:, c].std() > 0 else 0.0
        for c in range(k)
        if c != target
    }
    result = {
        "target": target,
        "num": num,
        "iterations": iters,
        "lr": float(cfg.lr),
        "prior_weight": float(cfg.prior_weight),
        "steering_classifier": {key: cinfo.get(key) for key in ("dataset_id", "sha256", "val_accuracy")},
        "independent_judge": {key: jinfo.get(key) for key in ("arch", "dataset_id", "sha256", "val_accuracy")},
        "target_share_start": float((judge_start == target).float().mean()),
        "target_share_end": float((judge_end == target).float().mean()),
        "target_share_start_steering_classifier": float((pred_start == target).float().mean()),
        "target_share_end_steering_classifier": float((pred_end == target).float().mean()),
        "z_norm_start": float(z0.norm(dim=1).mean()),
        "z_norm_end": float(z_final.norm(dim=1).mean()),
        "correlation_with_target": corr,
        "pictures": ["steer.png", "steer_correlation.png"],
        "arrays": ["steer.npz"],
        "tables": ["steer_trace.csv"],
        "what": "steer.png: first row the starting samples, second row the same z after steering",
    }
    (out / "steer.json").write_text(json.dumps(result, indent=2))
    return result


def augment(gan: Any, info: dict[str, Any], cfg: DictConfig, out: Path) -> dict[str, Any]:
    """The data-augmentation study (docs/references.md §12): classifiers trained on the training split where
    each real image
    is replaced by a generated image of the same label with probability 1 - p_real; held-out accuracy vs p_real.

    One generated partner per training image (fixed seed), one classifier per (p_real, seed): a LeNet-5
    (gan_zoo.metrics.judges.LeNet, no augmentation), Adam 2e-3, `epochs` epochs of batch 64, evaluated on the
    held-out split. Seeds change the replacement mask, the initialisation and the batch order.
    """
    from scipy import stats

    from gan_zoo.data.images import to_float_images
    from gan_zoo.metrics.judges import LeNet

    require_capability(
        gan,
        "labels",
        "augment needs a conditional checkpoint (model.conditional=true, e.g. cgan_mnist or cwgan_gp_mnist)",
    )
    run_cfg = OmegaConf.create(info["config"])
    dm = instantiate_checked(run_cfg.data, "data")
    dm.setup("fit")
    (x, y), (xv, yv) = dm.train_set.tensors, dm.val_set.tensors
    fake = torch.cat(
        [
            gan.synthesize_in_chunks(
                latent_of(gan, len(y), cfg.seed + 1)[i : i + cfg.batch_size],
                {"labels": y[i : i + cfg.batch_size].to(gan.device)},
                cfg.batch_size,
            )
            for i in range(0, len(y), cfg.batch_size)
        ]
    ).cpu()
    real, xv = to_float_images(x), to_float_images(xv)
    steps, seeds, epochs = int(cfg.p_steps), int(cfg.seeds), int(cfg.epochs)
    require(steps >= 2 and seeds >= 1 and epochs >= 1, "p_steps >= 2, seeds >= 1 and epochs >= 1 are needed")
    rows = []
    for p_real in torch.linspace(0, 1, steps).tolist():
        accs = []
        for s in range(seeds):
            with torch.random.fork_rng():
                torch.manual_seed(1000 * s + 17)
                keep = torch.rand(len(y)) < p_real
                data = torch.where(keep.view(-1, 1, 1, 1), real, fake)
                net = LeNet(real.shape[1], gan.num_classes)
                opt = torch.optim.Adam(net.parameters(), lr=2e-3)
                for _ in range(epochs):
                    perm = torch.randperm(len(y))
                    for i in range(0, len(y), 64):
                        idx = perm[i : i + 64]
                        loss = F.cross_entropy(net(data[idx]), y[idx])
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                with torch.no_grad():
                    accs.append(float((net.eval()(xv).argmax(1) == yv).float().mean()))
        a = np.array(accs)
        # Student's t interval over seeds (wide with 2 seeds, as it should be); 0 with one seed
        half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
        rows.append(
            {
                "p_real": round(p_real, 4),
                "accuracy": float(a.mean()),
                "ci95_low": float(a.mean() - half),
                "ci95_high": float(a.mean() + half),
                "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                "seeds": len(a),
            }
        )
        log.info("p_real %.2f: accuracy %.4f", p_real, a.mean())
    with open(out / "augment.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _plot(
        out / "augment.png",
        [r["p_real"] for r in rows],
        {"held-out accuracy": [r["accuracy"] for r in rows]},
        "p_real (share of real training images; the rest generated, same label)",
        f"held-out accuracy ({len(yv)} images, mean of {seeds} seeds)",
        "GAN data augmentation (docs/references.md §12)",
    )
    save_image_grid(torch.cat([real[:10], fake[:10]]), out / "augment_pairs.png", nrow=10)
    return {
        "pictures": ["augment.png", "augment_pairs.png"],
        "tables": ["augment.csv"],
        "values": rows,
        "classifier": f"LeNet-5, Adam 2e-3, {epochs} epochs of batch 64, no augmentation",
        "what": "augment_pairs.png: real training images (top) and their generated partners (same label)",
    }


def _plot(path: Path, xs: list[float], series: dict[str, list[float]], xlabel: str, ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=110)
    for name, ys in series.items():
        ax.plot(xs, ys, marker="o" if len(xs) <= 25 else None, ms=3, label=name, lw=2.2 if "target" in name else 1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ entry point
def analyse(cfg: DictConfig) -> dict[str, Any]:
    mode = str(cfg.mode)
    require(mode in MODES, f"unknown analyse mode {mode!r}; modes: {', '.join(MODES)}")
    require_int(cfg.seed, "seed")
    for key in ("ema", "overwrite"):
        require_bool(cfg.get(key, key == "ema"), key)
    for key in ("rows", "cols", "steps", "batch_size", "iterations", "p_steps", "seeds", "epochs"):
        require_int(cfg.get(key), key, 1)
    require_int(cfg.target, "target", 0)
    if cfg.get("num") is not None:
        require_int(cfg.num, "num", 1)
    out = Path(str(cfg.out))
    shown = f"out={cfg.out}"
    require(
        not out.exists() or out.is_dir(),
        f"{shown} is a file; analyse writes a folder of pictures and tables: give a folder (e.g. out=analysis/)",
    )
    if out.is_dir():  # this mode's files from an earlier run, and the folder's summary.json
        earlier = sorted(p for p in out.iterdir() if p.name.startswith(MODE_FILES[mode]) or p.name == "summary.json")
        check_outputs(earlier, bool(cfg.get("overwrite", False)), given=cfg.out)
    check_writable_folder(out / "x", shown)
    ckpt = resolve_checkpoint(cfg.checkpoint)
    gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
    gan.to(cfg.device)
    if not cfg.ema:
        gan.drop_ema()
    apply_noise_mode(gan, cfg.get("noise_mode"))
    require_capability(
        gan,
        "noise",
        f"analyse works on noise-to-image models; {type(gan).__name__} translates images (use gan-zoo translate)",
    )
    require(
        info["data"].get("kind") == "image",
        f"analyse draws and measures images; {ckpt} makes "
        f"{info['data'].get('kind')} data ({info['data'].get('dataset_id')}): use `gan-zoo sample` (a scatter plot) "
        "and `gan-zoo evaluate` (mode statistics)",
    )
    with output_folder(out, shown):
        if mode == "interpolate":
            result = interpolate(gan, cfg, out)
        elif mode == "label-sweep":
            result = label_sweep(gan, cfg, out)
        elif mode == "traverse":
            result = traverse(gan, cfg, out)
        elif mode == "truncation":
            result = truncation(gan, info, cfg, out)
        elif mode == "augment":
            result = augment(gan, info, cfg, out)
        elif mode == "mixing":
            result = mixing(gan, cfg, out)
        else:
            result = steer(gan, info, cfg, out)
    summary = {
        "mode": mode,
        "checkpoint": str(ckpt),
        "generator_steps": info.get("g_steps"),
        "sampled_from": "generator_ema" if gan.has_ema else "generator",
        **result,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("values",)}, indent=2, default=str), flush=True)
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="analyse")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo analyse MODE ...` command)."""
    exit_on_user_error(analyse, cfg)


if __name__ == "__main__":
    main()
