"""`gan-zoo project`: find, for each input image, the latent whose generated image is closest to it.

    gan-zoo project checkpoint=outputs/train/dcgan_mnist/RUN input=digits.npz out=proj.npz
    gan-zoo project checkpoint=outputs/train/stylegan_mnist/RUN input=pngs/ out=proj.npz space=wplus
    gan-zoo project checkpoint=outputs/train/cgan_mnist/RUN input=digits.npz out=proj.npz label=3

Inputs (an `.npz` with `images` uint8 [N, C, H, W] of any size, or a folder of images) are brought to the run's
size and channels the way `evaluate` brings samples (the data's resize; bilinear where padding would shrink).
The search minimises, per image, pixel_weight x pixel distance (L1 or MSE in [-1, 1]) + feature_weight x feature
distance (the run's domain classifier's penultimate features, unit-normalised; or LPIPS where its weights are
present) + prior_weight x (|z|^2 / d - 1)^2 (keeps a Gaussian z at the radius the prior puts it; a uniform or
truncated z is clamped to its box instead). It starts from the best `starts` of `bank` random latents (one bank
for all images, drawn from `seed`; conditional games try every label there) and refines them with Adam for
`steps` steps, keeping each image's best. The style-based game searches w (one style for all layers, default)
or w+ (one per layer) from the best of the mean w and the bank's mapped w; the VAE starts from its encoder's
mean. docs/project.md has the settings, what they trade, and measurements.

`.npz` keys, in input order: `latents` float32 (z [N, d], w [N, w_dim] or w+ [N, layers, w_dim]), `images` uint8
[N, C, H, W] (the reconstructions, at the data's size), `targets` uint8 (the inputs as projected), `distances`
float32 [N] (the objective at the end), `labels` int64 [N] for conditional games (InfoGAN: `codes` and
`continuous_codes`, the names `sample` writes). A PNG beside it shows target and reconstruction rows.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from gan_zoo.build import instantiate_checked, load_checkpoint_gan
from gan_zoo.callbacks.samples import save_image_grid
from gan_zoo.data.images import to_float_images, to_uint8_images
from gan_zoo.errors import ConfigError, DatasetNotFoundError, exit_on_user_error, require, require_bool, require_int
from gan_zoo.metrics.features import folder_source, open_npz, prepare_images
from gan_zoo.models.base import eval_mode
from gan_zoo.models.contract import capabilities_of
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import atomic_write, check_outputs, make_parent

log = logging.getLogger("gan_zoo")

SPACES = ("z", "w", "wplus")
FEATURES = ("domain", "lpips", "none")
PIXEL_TERMS = ("l1", "mse")


# ------------------------------------------------------------------------------------------ inputs
def read_inputs(
    path: str, channels: int, size: int, resize: str, num: int | None, strict: bool = False
) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """(targets uint8 [N, channels, size, size], the file's `labels`/`codes` arrays) of an .npz or a folder.

    Images of any size are brought to the run's protocol as `evaluate` brings samples (prepare_images); a folder
    is read in sorted file order, like `image_folder` data (its class sub-folders are not used as labels).
    """
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(
            f"input={path}: no such file or folder. Give an .npz with `images` uint8 [N, C, H, W] (any size; "
            "e.g. written by `gan-zoo sample` or `gan-zoo translate`) or a folder of images."
        )

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return prepare_images(x, channels=channels, size=size, resize=resize)

    if p.is_dir():
        source = folder_source(p, 256, prepare, channels, strict=strict, limit=num)
        x = torch.cat([make()[0] for make in source.chunks])
        if source.info["skipped"]:
            log.warning("skipped %d unreadable file(s) under %s", len(source.info["skipped"]), p)
        require(len(x) > 0, f"input={path}: none of the image files could be read")
        return x, {}
    blob = open_npz(p)
    require(
        "images" in blob.files,
        f"input={path} has no `images` array (keys: {sorted(blob.files)}); projection needs `images` uint8 "
        "[N, C, H, W], as `gan-zoo sample` writes",
    )
    images = blob["images"]
    require(
        images.dtype == np.uint8 and images.ndim == 4 and images.shape[1] in (1, 3) and len(images) > 0,
        f"input={path}: `images` must be uint8 [N, C, H, W] with N > 0 and C in (1, 3), got {images.dtype} "
        f"{list(images.shape)}. Convert floats in [-1, 1] with round((x + 1) * 127.5).",
    )
    n = len(images) if num is None else min(num, len(images))
    extra = {}
    for key in ("labels", "codes"):
        if key in blob.files:
            a = np.asarray(blob[key])
            require(
                a.ndim == 1 and len(a) == len(images) and np.issubdtype(a.dtype, np.integer),
                f"input={path}: `{key}` must hold one integer per image (int [{len(images)}]), got {a.dtype} "
                f"{list(a.shape)}; fix the array or remove it",
            )
            extra[key] = a[:n].astype(np.int64)
    x = torch.cat(
        [prepare(torch.from_numpy(np.ascontiguousarray(images[s : min(s + 256, n)]))) for s in range(0, n, 256)]
    )
    return x, extra


# ------------------------------------------------------------------------------------------ feature terms
class DomainFeatures(torch.nn.Module):
    """Unit-normalised penultimate features of the run's domain classifier (differentiable in the images)."""

    def __init__(self, extractor: Any) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.extractor.classifier.features(x), dim=1)


def domain_features(gan: Any, info: dict[str, Any], cache_dir: str) -> tuple[DomainFeatures, dict[str, Any]]:
    """The run's domain extractor, found as `evaluate` finds it (trained on the run's data once, then cached)."""
    from gan_zoo.metrics.domain import extractor_options, load_or_train_extractor
    from gan_zoo.metrics.extractors import DomainExtractor

    dm = instantiate_checked(OmegaConf.create(info["config"]["data"]), "data")
    dm.setup("fit")
    require(
        dm.num_classes >= 2,
        f"feature=domain uses a classifier trained on the run's labelled data, but {dm.dataset_id} has no "
        "classes: use feature=none (pixels only) or feature=lpips (with its weights)",
    )
    # the run's own classifier settings, as its training-time evaluation used them
    model, meta = load_or_train_extractor(dm, cache_dir, **extractor_options(info["config"].get("metrics") or {}))
    ext = DomainExtractor(model, meta)
    return DomainFeatures(ext).to(gan.device), ext.protocol()


def lpips_weights() -> Path:
    """Where torchvision keeps the AlexNet weights LPIPS is built on (torch hub's checkpoint folder)."""
    from torchvision.models import AlexNet_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(AlexNet_Weights.IMAGENET1K_V1.url).name


class LPIPSDistance(torch.nn.Module):
    """torchmetrics' LPIPS (AlexNet) between images in [-1, 1], one value per pair; grey images repeat to RGB."""

    def __init__(self) -> None:
        super().__init__()
        from torchmetrics.functional.image.lpips import _LPIPS

        self.net = _LPIPS(pretrained=True, net="alex").eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x, t = x.expand(-1, 3, -1, -1), t.expand(-1, 3, -1, -1)
        return self.net(x, t, normalize=False).flatten()


def lpips_distance() -> tuple[LPIPSDistance, dict[str, Any]]:
    """LPIPS where its backbone weights are present; exit 2 naming the file otherwise (nothing is downloaded)."""
    path = lpips_weights()
    if not path.is_file():
        raise ConfigError(
            f"feature=lpips needs torchvision's AlexNet weights at {path} (LPIPS is built on them; nothing is "
            "downloaded here): copy that file there (or set TORCH_HOME to a folder whose hub/checkpoints holds "
            "it), or use feature=domain (the run's domain classifier) or feature=none"
        )
    return LPIPSDistance(), {"name": "lpips-alex (torchmetrics)", "weights": str(path)}


# ------------------------------------------------------------------------------------------ the search
@dataclass
class Settings:
    """The objective's weights and the search's budget (docs/project.md: what each trades)."""

    steps: int = 60
    starts: int = 2
    bank: int = 2048
    lr: float = 0.05
    pixel: str = "mse"
    pixel_weight: float = 1.0
    feature_weight: float = 0.5
    prior_weight: float = 0.1
    batch_size: int = 250


class Space:
    """A latent space to search: how candidates are drawn, rendered, kept in range and written."""

    def __init__(self, gan: Any, space: str, cond_key: str | None, num_conds: int) -> None:
        caps = capabilities_of(gan)
        self.gan, self.space, self.cond_key, self.num_conds = gan, space, cond_key, num_conds
        self.net = gan.sampling_generator
        self.gaussian = space == "z" and gan.prior == "normal"
        self.box: float | None = None  # a uniform prior's [-1, 1], or the z truncation box
        if space == "z" and gan.prior == "uniform":
            self.box = 1.0
        if space == "z" and caps.truncation == "z" and gan.truncation is not None:
            self.box = float(gan.truncation) if self.box is None else min(self.box, float(gan.truncation))
        self.codes_continuous = cond_key == "codes"  # InfoGAN: its continuous codes are searched with z

    def draw(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        """n random candidates: z from the prior (clamped to the box), or w = mapping(z) with the mean w first."""
        z = self.gan.noise(n, g)
        if self.box is not None:
            z = z.clamp(-self.box, self.box)
        out = {"z": z}
        if self.space != "z":
            with torch.no_grad(), eval_mode(self.net):
                w = self.net.mapping(z)
            w[0] = self.net.mapping.w_avg
            out = {"w": w if self.space == "w" else self.net.broadcast(w).clone()}
        if self.codes_continuous:
            out["continuous_codes"] = torch.rand(n, self.gan.code_continuous, generator=g, device=z.device) * 2 - 1
        return out

    def render(self, params: dict[str, torch.Tensor], conds: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images in [-1, 1] of the candidates (differentiable in params)."""
        if self.space == "w":
            return self.gan.synthesize_styles(self.net, self.net.broadcast(params["w"]))
        if self.space == "wplus":
            return self.gan.synthesize_styles(self.net, params["w"])
        extra = {k: v for k, v in params.items() if k != "z"}
        return self.gan.synthesize(self.net, params["z"], {**conds, **extra})

    def prior(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """(|z|^2 / d - 1)^2 per candidate for a Gaussian z; zero elsewhere (boxes are clamped instead)."""
        key = "z" if self.space == "z" else "w"
        p = params[key]
        if not self.gaussian:
            return p.new_zeros(len(p))
        return (p.pow(2).mean(1) - 1.0).pow(2)

    @torch.no_grad()
    def clamp_(self, params: dict[str, torch.Tensor]) -> None:
        """Keep boxed latents (and InfoGAN's continuous codes) inside their range."""
        if self.box is not None:
            params["z"].clamp_(-self.box, self.box)
        if "continuous_codes" in params:
            params["continuous_codes"].clamp_(-1.0, 1.0)


class Objective:
    """pixel_weight x pixel + feature_weight x feature + prior_weight x prior, one value per candidate."""

    def __init__(self, s: Settings, features: torch.nn.Module | None, lpips: torch.nn.Module | None) -> None:
        self.s, self.features, self.lpips = s, features, lpips

    def pixel(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        d = (x - t).abs() if self.s.pixel == "l1" else (x - t).pow(2)
        return d.flatten(1).mean(1)

    def target_features(self, t: torch.Tensor) -> torch.Tensor | None:
        if self.features is None:
            return None
        with torch.no_grad():
            return self.features(t)

    def __call__(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        t_feat: torch.Tensor | None,
        prior: torch.Tensor,
    ) -> torch.Tensor:
        total = self.s.pixel_weight * self.pixel(x, t) + self.s.prior_weight * prior
        if self.features is not None and self.s.feature_weight:
            total = total + self.s.feature_weight * (self.features(x) - t_feat).pow(2).sum(1)
        if self.lpips is not None and self.s.feature_weight:
            total = total + self.s.feature_weight * self.lpips(x, t)
        return total


def _bank_distances(
    obj: Objective,
    space: Space,
    bank: dict[str, torch.Tensor],
    conds: dict[str, torch.Tensor],
    t: torch.Tensor,
    chunk: int,
) -> torch.Tensor:
    """[N targets, B bank entries] objective of every bank candidate for every target (no gradients)."""
    with torch.no_grad():
        xs, fs = [], []
        for i in range(0, len(next(iter(bank.values()))), chunk):
            x = space.render(
                {k: v[i : i + chunk] for k, v in bank.items()}, {k: v[i : i + chunk] for k, v in conds.items()}
            )
            xs.append(x.flatten(1))
            if obj.features is not None and obj.s.feature_weight:
                fs.append(obj.features(x))
        xb = torch.cat(xs)
        tf = t.flatten(1)
        d = xb.shape[1]
        if obj.s.pixel == "mse":
            pix = (tf.pow(2).sum(1, keepdim=True) + xb.pow(2).sum(1)[None] - 2 * tf @ xb.T) / d
        else:
            pix = torch.cat([torch.cdist(tf[i : i + 64], xb, p=1) for i in range(0, len(tf), 64)]) / d
        total = obj.s.pixel_weight * pix.clamp_min(0) + obj.s.prior_weight * space.prior(bank)[None]
        if fs:
            fb, ft = torch.cat(fs), obj.features(t)
            total = total + obj.s.feature_weight * (2 - 2 * ft @ fb.T).clamp_min(0)
        return total  # LPIPS is pairwise only: with feature=lpips the bank's starts are chosen on pixels and prior


def search(
    gan: Any,
    space: Space,
    obj: Objective,
    targets: torch.Tensor,
    allowed: torch.Tensor | None,
    seed: int,
    start: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """(best params per target, their conditions, their objective) for targets in [-1, 1].

    allowed: [N, K] bool, the conditions each target may take (None: unconditional). start: one given start per
    target (the VAE's encoder mean) instead of the bank.
    """
    s = obj.s
    n, dev = len(targets), targets.device
    g = torch.Generator(device=dev).manual_seed(int(seed))
    if start is not None:
        cand = {k: v.detach().clone() for k, v in start.items()}
        cand_conds: dict[str, torch.Tensor] = {}
        owner = torch.arange(n, device=dev)
    else:
        k = space.num_conds if space.cond_key else 1
        per = max(1, s.bank // k)
        bank = space.draw(per, g)
        conds: dict[str, torch.Tensor] = {}
        if space.cond_key:  # every z of the bank under every condition
            bank = {key: v.repeat_interleave(k, 0) for key, v in bank.items()}
            conds = {space.cond_key: torch.arange(k, device=dev).repeat(per)}
        dist = torch.cat(
            [
                _bank_distances(obj, space, bank, conds, targets[i : i + s.batch_size], s.batch_size)
                for i in range(0, n, s.batch_size)
            ]
        )
        if allowed is not None:
            dist = dist.masked_fill(~allowed[:, conds[space.cond_key]], math.inf)
        top = dist.topk(min(s.starts, dist.shape[1]), dim=1, largest=False).indices  # [N, starts]
        owner = torch.arange(n, device=dev).repeat_interleave(top.shape[1])
        cand = {key: v[top.flatten()].clone() for key, v in bank.items()}
        cand_conds = {key: v[top.flatten()] for key, v in conds.items()}
    m = len(owner)
    best_val = torch.full((m,), math.inf, device=dev)
    best = {key: v.clone() for key, v in cand.items()}
    t_feat_all = obj.target_features(targets)
    for i in range(0, m, s.batch_size):
        sl = slice(i, i + s.batch_size)
        params = {key: v[sl].clone().requires_grad_(True) for key, v in cand.items()}
        c = {key: v[sl] for key, v in cand_conds.items()}
        t = targets[owner[sl]]
        tf = None if t_feat_all is None else t_feat_all[owner[sl]]
        opt = torch.optim.Adam(list(params.values()), lr=s.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / max(s.steps, 1))))
        for step in range(s.steps + 1):
            with torch.enable_grad():
                val = obj(space.render(params, c), t, tf, space.prior(params))
            better = val.detach() < best_val[sl]
            best_val[sl] = torch.where(better, val.detach(), best_val[sl])
            for key, v in params.items():
                best[key][sl][better] = v.detach()[better]
            if step == s.steps:
                break
            opt.zero_grad(set_to_none=True)
            val.sum().backward()  # a sum: each candidate's gradient is its own, whatever the batch
            opt.step()
            sched.step()
            space.clamp_(params)
    # each target keeps its best candidate
    order = torch.arange(m, device=dev)
    per_target = torch.full((n,), -1, dtype=torch.long, device=dev)
    vals = torch.full((n,), math.inf, device=dev)
    for j in order.tolist():
        o = int(owner[j])
        if best_val[j] < vals[o]:
            vals[o], per_target[o] = best_val[j], j
    return (
        {key: v[per_target] for key, v in best.items()},
        {key: v[per_target] for key, v in cand_conds.items()},
        vals,
    )


# ------------------------------------------------------------------------------------------ the command
def _settings(cfg: DictConfig) -> Settings:
    s = Settings(
        steps=require_int(cfg.steps, "steps", 0),
        starts=require_int(cfg.starts, "starts", 1),
        bank=require_int(cfg.bank, "bank", 1),
        lr=float(cfg.lr),
        pixel=str(cfg.pixel),
        pixel_weight=float(cfg.pixel_weight),
        feature_weight=float(cfg.feature_weight),
        prior_weight=float(cfg.prior_weight),
        batch_size=require_int(cfg.batch_size, "batch_size", 1),
    )
    require(s.pixel in PIXEL_TERMS, f"pixel must be one of {', '.join(PIXEL_TERMS)}, got {s.pixel!r}")
    require(s.lr > 0, f"lr must be > 0, got {s.lr}")
    for key in ("pixel_weight", "feature_weight", "prior_weight"):
        require(getattr(s, key) >= 0, f"{key} must be >= 0, got {getattr(s, key)}")
    return s


def _space(cfg: DictConfig, gan: Any) -> str:
    """`space=` checked against the game: w and w+ need per-layer styles; null takes the game's default."""
    caps = capabilities_of(gan)
    space = cfg.get("space")
    if space is None:
        return "w" if caps.w_space else "z"
    require(space in SPACES, f"space must be one of {', '.join(SPACES)} or null (the game's default), got {space!r}")
    require(
        space == "z" or caps.w_space,
        f"space={space} searches the styles of a style-based generator, but {type(gan).__name__} has only its "
        "noise z: use space=z (or drop space=)",
    )
    return str(space)


def _conditions(
    cfg: DictConfig, gan: Any, extra: dict[str, np.ndarray], n: int
) -> tuple[str | None, int, torch.Tensor | None, str]:
    """(condition key, how many, [N, K] allowed mask or None, where the conditions come from)."""
    caps = capabilities_of(gan)
    label, code = cfg.get("label"), cfg.get("code")
    for key, value in (("label", label), ("code", code)):
        if value is not None:
            require_int(value, key, 0)
    if caps.codes:
        require(label is None, "InfoGAN has categorical codes, not class labels: use code=K (or drop label=)")
        key, k, given, arr = "codes", int(gan.code_categories), code, extra.get("codes")
    elif caps.labels:
        require(code is None, f"code= picks an InfoGAN code; {type(gan).__name__} has class labels: use label=K")
        key, k, given, arr = "labels", int(gan.num_classes), label, extra.get("labels")
    else:
        require(
            label is None and code is None,
            f"{'label' if label is not None else 'code'}= was given but {type(gan).__name__} is unconditional; drop it",
        )
        return None, 0, None, "none"
    name = "label" if key == "labels" else "code"
    if given is not None:
        require(int(given) < k, f"{name} must be in [0, {k - 1}] for this model, got {given}")
        allowed = torch.zeros(n, k, dtype=torch.bool)
        allowed[:, int(given)] = True
        return key, k, allowed, f"{name}={given}"
    if arr is not None:
        require(
            arr.min() >= 0 and arr.max() < k,
            f"the input's `{key}` hold values in [{arr.min()}, {arr.max()}] but this model has {k}; remove the "
            f"array to try every {name}, or give {name}=K",
        )
        allowed = torch.zeros(n, k, dtype=torch.bool)
        allowed[torch.arange(n), torch.from_numpy(arr)] = True
        return key, k, allowed, f"the input's `{key}`"
    return key, k, None, f"the best of all {k} {key}"


def project_to_npz(cfg: DictConfig) -> dict[str, Any]:
    """Load, project, write the .npz and the picture; return a summary."""
    t0 = time.perf_counter()
    require(
        cfg.num is None or (isinstance(cfg.num, int) and not isinstance(cfg.num, bool) and cfg.num > 0),
        f"num must be a positive integer or null (every input image), got {cfg.num!r}",
    )
    require_int(cfg.seed, "seed")
    require_int(cfg.rows, "rows", 1)
    for key in ("ema", "overwrite", "strict"):
        require_bool(cfg.get(key), key)
    feature = cfg.feature
    require(feature in FEATURES, f"feature must be one of {', '.join(FEATURES)}, got {feature!r}")
    s = _settings(cfg)
    out = Path(str(cfg.out))
    picture = out.with_suffix(".png")
    check_outputs([out, picture], bool(cfg.overwrite), given=cfg.out, suffix=".npz")
    if not Path(str(cfg.input)).exists():
        read_inputs(str(cfg.input), 1, 1, "pad", None)  # the missing input is named before the model is loaded
    ckpt = resolve_checkpoint(cfg.checkpoint)
    gan, info = load_checkpoint_gan(str(ckpt), map_location=cfg.device)
    caps = capabilities_of(gan)
    require(
        caps.noise and not caps.images_to_images,
        f"{ckpt} holds a {type(gan).__name__}, which translates images rather than making them from a latent: "
        "nothing to project into. Use `gan-zoo translate checkpoint=RUN input=FOLDER out=t.npz`",
    )
    require(
        info["data"].get("kind") == "image",
        f"{ckpt} makes {info['data'].get('kind')} data, not images: projection takes image games",
    )
    space_name = _space(cfg, gan)
    gan.to(cfg.device)
    if not cfg.ema:
        gan.drop_ema()
    gan.sampling_generator.requires_grad_(False)
    c, size = int(info["data"]["shape"][0]), int(info["data"]["shape"][1])
    resize = str(info["config"]["data"].get("resize", "bilinear"))
    x_u8, extra = read_inputs(str(cfg.input), c, size, resize, cfg.num, strict=bool(cfg.strict))
    n = len(x_u8)
    if cfg.num is not None and cfg.num > n:
        print(f"num={cfg.num} capped to {n}: input={cfg.input} holds {n} images", flush=True)
    cond_key, k, allowed, cond_from = _conditions(cfg, gan, extra, n)
    features = lpips = None
    feature_protocol: dict[str, Any] = {"name": "none"}
    if feature == "domain" and s.feature_weight > 0:
        features, feature_protocol = domain_features(gan, info, str(cfg.paths.cache_dir))
    elif feature == "lpips" and s.feature_weight > 0:
        lpips, feature_protocol = lpips_distance()
        lpips = lpips.to(cfg.device)
    obj = Objective(s, features, lpips)
    space = Space(gan, space_name, cond_key, k)
    targets = to_float_images(x_u8).to(gan.device)
    start = None
    if caps.encoder and space_name == "z":
        start = {"z": gan.encode(targets, s.batch_size)}
        if allowed is not None:  # encoder games are unconditional
            allowed = None
    torch.manual_seed(int(cfg.seed))
    t_setup = time.perf_counter() - t0
    with eval_mode(gan.sampling_generator), torch.autocast(gan.device.type, enabled=False):
        params, conds, dist = search(
            gan, space, obj, targets, None if allowed is None else allowed.to(gan.device), int(cfg.seed), start
        )
        with torch.no_grad():
            recon = torch.cat(
                [
                    space.render(
                        {kk: v[i : i + s.batch_size] for kk, v in params.items()},
                        {kk: v[i : i + s.batch_size] for kk, v in conds.items()},
                    )
                    for i in range(0, n, s.batch_size)
                ]
            )
    latent_key = "z" if space_name == "z" else "w"
    arrays: dict[str, np.ndarray] = {
        "latents": params[latent_key].float().cpu().numpy(),
        "images": to_uint8_images(recon).cpu().numpy(),
        "targets": x_u8.cpu().numpy(),
        "distances": dist.float().cpu().numpy(),
    }
    if cond_key:
        arrays[cond_key] = conds[cond_key].long().cpu().numpy()
    if "continuous_codes" in params:
        arrays["continuous_codes"] = params["continuous_codes"].float().cpu().numpy()
    make_parent(out, f"out={cfg.out}")
    atomic_write(out, lambda f: np.savez(f, **arrays))
    shown = torch.linspace(0, n - 1, min(int(cfg.rows), n)).round().long()
    tiles = torch.cat([targets[shown].cpu(), recon[shown].cpu()])  # the target row, then the reconstruction row
    atomic_write(picture, lambda f: _save_grid(tiles, f, len(shown)))
    l1 = (recon - targets).abs().mean().item() / 2  # in [0, 1] of the pixel range
    summary = {
        "checkpoint": str(ckpt),
        "out": str(out),
        "picture": str(picture),
        "input": str(cfg.input),
        "projected": n,
        "space": space_name,
        "conditions": cond_from,
        "feature": feature_protocol.get("name"),
        "settings": (
            f"steps {s.steps}, starts {1 if start is not None else s.starts} "
            f"({'encoder mean' if start is not None else f'best of a bank of {s.bank}'}), lr {s.lr}, "
            f"{s.pixel} x {s.pixel_weight} + feature x {s.feature_weight} + prior x {s.prior_weight}"
        ),
        "generator_steps": info.get("g_steps"),
        "projected_with": "EMA generator" if gan.has_ema else "generator",
        "mean_distance": float(dist.mean()),
        "pixel_l1": round(l1, 5),
        "wall_s": round(time.perf_counter() - t0, 1),
        "setup_s": round(t_setup, 1),
        **{key: f"{v.dtype} {list(v.shape)}" for key, v in arrays.items()},
    }
    print("\n".join(f"{key:16s} {v}" for key, v in summary.items()), flush=True)
    return summary


def _save_grid(tiles: torch.Tensor, f: Any, nrow: int) -> None:
    """The picture into an open file (atomic_write renames it into place)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "grid.png"
        save_image_grid(tiles, p, nrow=nrow)
        f.write(p.read_bytes())


@hydra.main(version_base="1.3", config_path="conf", config_name="project")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo project` command)."""
    exit_on_user_error(project_to_npz, cfg)


if __name__ == "__main__":
    main()
