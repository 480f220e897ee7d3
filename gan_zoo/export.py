"""Export a run's sampling generator as a TorchScript or ONNX module that runs without gan_zoo.

    gan-zoo export checkpoint=outputs/train/dcgan_mnist/RUN format=onnx out=g.onnx
    gan-zoo export checkpoint=outputs/train/cgan_mnist/RUN format=torchscript out=g.pt
    gan-zoo export checkpoint=outputs/train/cyclegan_digits_mnist/RUN format=onnx direction=BtoA out=ba.onnx

The module is the generator `gan-zoo sample` draws from (the EMA copy when the run has one, eval mode) wrapped so
that its inputs are plain tensors: `z` float32 [N, latent] (the `latents` array `gan-zoo sample` writes), plus
`labels` int64 [N] (conditional games), `codes` int64 [N] and `continuous_codes` float32 [N, K] (InfoGAN), `noise`
float32 [N, sum(res**2)] (the style-based game with noise_mode=random: the per-layer noise maps, flattened), or
`sources` float32 [N, C, H, W] in [-1, 1] alone (Pix2Pix, CycleGAN: the source-domain images, named as
`gan-zoo translate` names them; not `images`, the output's name). Its output is `images` float32 [N, C, H, W]
in [-1, 1] at the data's size, for any batch size N. What the sampler bakes in (truncation in w, the growth level)
is traced into the module; `<out>.json` beside it names the inputs, their shapes and priors, and the output range.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import torch
import torch.nn as nn
from omegaconf import DictConfig

from gan_zoo.build import load_checkpoint_gan
from gan_zoo.errors import ConfigError, exit_on_user_error, require, require_bool
from gan_zoo.models.base import eval_mode
from gan_zoo.models.contract import capabilities_of
from gan_zoo.sample import apply_noise_mode, apply_truncation
from gan_zoo.utils.checkpoints import resolve_checkpoint
from gan_zoo.utils.io import atomic_write, atomic_write_text, check_outputs

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
#: the batch size the module is traced with; the exported batch dimension stays dynamic
TRACE_BATCH = 2


@dataclass
class ExportSpec:
    """What one game's exported module reads: input descriptions (for the JSON), example tensors, the forward."""

    inputs: list[dict[str, Any]]
    examples: tuple[torch.Tensor, ...]
    forward: Callable[..., torch.Tensor]
    notes: dict[str, Any] = field(default_factory=dict)


class ExportedGenerator(nn.Module):
    """The sampling generator behind a tensors-in, images-out forward (only `net`'s weights are exported)."""

    def __init__(self, net: nn.Module, forward: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self._forward = forward  # the game's sampling path, a plain function: the game itself is not exported

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        # the clamp states the documented output range; it changes nothing the uint8 conversion would not clamp
        return self._forward(self.net, *inputs).float().clamp(-1.0, 1.0)


def _prior_text(gan: Any) -> str:
    """The latent prior of a noise game, in words."""
    text = "uniform U(-1, 1)" if gan.prior == "uniform" else "standard normal N(0, I)"
    if capabilities_of(gan).truncation == "z" and gan.truncation is not None:
        text += f", truncated: entries with |z_i| > {gan.truncation} redrawn (gan-zoo sample truncation=)"
    return text


def _z_input(gan: Any) -> dict[str, Any]:
    return {
        "name": "z",
        "dtype": "float32",
        "shape": ["N", int(gan.latent_dim)],
        "prior": _prior_text(gan),
        "npz": "latents",
    }


def export_spec(gan: Any, direction: str | None) -> ExportSpec:
    """The exported module's inputs and forward for this game, decided by its declared capabilities."""
    caps = capabilities_of(gan)
    name = type(gan).__name__
    if caps.images_to_images:
        direction = direction or "AtoB"
        gan.check_direction(direction)
        shape = gan.shape_a if direction == "AtoB" else gan.shape_b
        return ExportSpec(
            inputs=[
                {
                    "name": "sources",  # not "images", the output's name: ONNX names must differ
                    "dtype": "float32",
                    "shape": ["N", *shape],
                    "range": [-1.0, 1.0],
                    "prior": f"images of domain {'A' if direction == 'AtoB' else 'B'} (the source of {direction})",
                    "npz": "sources",
                    "from_uint8": "sources / 127.5 - 1",
                }
            ],
            examples=(torch.rand(TRACE_BATCH, *shape) * 2 - 1,),
            forward=lambda net, x: net(x),
            notes={"direction": direction},
        )
    require(direction is None, f"direction= is for Pix2Pix/CycleGAN runs; {name} samples from noise: drop direction=")
    if not caps.noise:
        raise ConfigError(f"{name} neither samples from noise nor translates images: it has no generator to export")
    n, z = TRACE_BATCH, torch.randn(TRACE_BATCH, int(gan.latent_dim))
    inputs, examples = [_z_input(gan)], [z]
    notes: dict[str, Any] = {}
    if caps.w_space:
        net = gan.sampling_generator
        level, alpha = gan.growth
        notes["growth"] = {"level": level, "alpha": alpha, "resolution": 4 * 2**level}
        notes["truncation"] = (
            None if gan.psi is None else {"space": "w", "psi": gan.psi, "cutoff": gan.psi_cutoff, "baked_in": True}
        )
        notes["noise_mode"] = gan.noise_mode
        if gan.noise_mode == "random":
            sizes = [int(r) for r in net.noise_sizes]
            inputs.append(
                {
                    "name": "noise",
                    "dtype": "float32",
                    "shape": ["N", sum(r * r for r in sizes)],
                    "prior": "standard normal N(0, I): one map per style layer, flattened and concatenated in "
                    f"layer order, map sides {sizes}",
                    "npz": "noise",
                }
            )
            examples.append(torch.randn(n, sum(r * r for r in sizes)))
        # noise_mode "const": no input, every sample shares the generator's fixed maps (weights of the module)

        def forward(net: nn.Module, z: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
            return gan.synthesize_styles(net, gan.styles(net, z), net.split_noise(noise[0]) if noise else None)

        return ExportSpec(inputs=inputs, examples=tuple(examples), forward=forward, notes=notes)
    elif caps.codes:
        k, c = int(gan.code_categories), int(gan.code_continuous)
        inputs.append(
            {
                "name": "codes",
                "dtype": "int64",
                "shape": ["N"],
                "range": [0, k - 1],
                "prior": f"categorical code, uniform over {k}",
                "npz": "codes",
            }
        )
        examples.append(torch.arange(n) % k)
        if c:
            inputs.append(
                {
                    "name": "continuous_codes",
                    "dtype": "float32",
                    "shape": ["N", c],
                    "prior": "uniform U(-1, 1)",
                    "npz": "continuous_codes",
                }
            )
            examples.append(torch.rand(n, c) * 2 - 1)
    elif caps.labels:
        k = int(gan.num_classes)
        inputs.append(
            {
                "name": "labels",
                "dtype": "int64",
                "shape": ["N"],
                "range": [0, k - 1],
                "prior": f"class index in [0, {k - 1}]",
                "npz": "labels",
            }
        )
        examples.append(torch.arange(n) % k)
    names = [i["name"] for i in inputs[1:]]

    def forward(net: nn.Module, z: torch.Tensor, *conds: torch.Tensor) -> torch.Tensor:
        given = dict(zip(names, conds))
        if caps.codes and "continuous_codes" not in given:  # InfoGAN without continuous codes
            given["continuous_codes"] = z[:, :0]
        return gan.synthesize(net, z, given)

    if caps.truncation == "z":
        notes["truncation"] = None if gan.truncation is None else {"space": "z", "threshold": gan.truncation}
    return ExportSpec(inputs=inputs, examples=tuple(examples), forward=forward, notes=notes)


def _generator_of(gan: Any, spec: ExportSpec) -> nn.Module:
    """The network the module wraps: the translator of the direction, else the sampling generator."""
    if capabilities_of(gan).images_to_images:
        return gan.translator(spec.notes["direction"])
    return gan.sampling_generator


def _torchscript_bytes(module: nn.Module, examples: tuple[torch.Tensor, ...]) -> bytes:
    with warnings.catch_warnings():
        # the tracer's notes on Python values it freezes (the growth level etc.), and TorchScript's deprecation
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, examples, check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)  # TorchScript is deprecated in favour of torch.export, but still loads anywhere
    return buf.getvalue()


def _onnx_bytes(module: nn.Module, examples: tuple[torch.Tensor, ...], names: list[str]) -> bytes:
    try:
        import onnx  # noqa: F401 - the exporter needs it (and onnxscript); say so before torch does
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"format=onnx needs the `{e.name}` package, a dependency of gan_zoo: run the README's set-up "
            "(pip install -e .) or use format=torchscript"
        ) from None
    from torch.export import Dim

    batch = Dim("N")
    # the exporter and its graph optimiser report every pass at INFO and on stdout; the command prints a summary
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                examples,
                input_names=names,
                output_names=["images"],
                dynamic_shapes=(tuple({0: batch} for _ in examples),),  # forward(*inputs): one tuple of inputs
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    return program.model_proto.SerializeToString()


def export_generator(cfg: DictConfig) -> dict[str, Any]:
    """Load the checkpoint, trace its sampling generator, write the module and its JSON; return a summary."""
    fmt = cfg.format
    require(fmt in FORMATS, f"format must be one of {', '.join(FORMATS)} (torchscript: .pt, onnx: .onnx), got {fmt!r}")
    for key in ("ema", "overwrite"):
        require_bool(cfg.get(key, key == "ema"), key)
    require(cfg.out is not None, f"out= must name the {FORMATS[fmt]} file to write")
    out = Path(str(cfg.out))
    meta = out.with_name(out.name + ".json")
    check_outputs([out, meta], bool(cfg.overwrite), given=cfg.out, suffix=FORMATS[fmt])
    ckpt = resolve_checkpoint(cfg.checkpoint)
    gan, info = load_checkpoint_gan(str(ckpt), map_location="cpu")
    if not cfg.ema:
        gan.drop_ema()
    caps = capabilities_of(gan)
    if caps.noise:
        apply_truncation(gan, cfg.get("truncation"), cfg.get("psi"), cfg.get("psi_cutoff"))
        apply_noise_mode(gan, cfg.get("noise_mode"))
    else:
        given = [k for k in ("truncation", "psi", "psi_cutoff", "noise_mode") if cfg.get(k) is not None]
        require(not given, f"{', '.join(given)}= apply to noise games; {type(gan).__name__} translates: drop them")
    spec = export_spec(gan, cfg.get("direction"))
    module = ExportedGenerator(_generator_of(gan, spec), spec.forward)
    module.requires_grad_(False)  # a consumer's forward then needs no torch.no_grad() to give plain tensors
    # eval mode for every game, dropout off: a Pix2Pix run with inference_dropout=true (random translations) exports
    # deterministic, as ONNX would make it anyway (its exporter drops training-mode dropout)
    with torch.no_grad(), eval_mode(module.net):
        sample = module(*spec.examples)
        if sample.dim() != 4:
            raise ConfigError(
                f"this run's generator makes {list(sample.shape[1:])}-vectors (points), not images; export writes "
                "image generators (float32 [N, C, H, W] in [-1, 1]): use `gan-zoo sample` for its points"
            )
        names = [i["name"] for i in spec.inputs]
        blob = (
            _torchscript_bytes(module, spec.examples)
            if fmt == "torchscript"
            else _onnx_bytes(module, spec.examples, names)
        )
    description = {
        "format": fmt,
        "file": out.name,
        "checkpoint": str(ckpt),
        "experiment": info.get("config", {}).get("name"),
        "game": type(gan).__name__,
        "generator_steps": info.get("g_steps"),
        "exported_from": "generator_ema" if gan.has_ema else "generator",
        "inputs": spec.inputs,
        "output": {
            "name": "images",
            "dtype": "float32",
            "shape": ["N", *map(int, sample.shape[1:])],
            "range": [-1.0, 1.0],
            "to_uint8": "round((images + 1) * 127.5), as gan-zoo sample writes `images`",
        },
        "batch_dimension": "dynamic (N)",
        **spec.notes,
        "load": (
            "torch.jit.load(file)(*inputs)"
            if fmt == "torchscript"
            else "onnxruntime.InferenceSession(file).run(['images'], {name: array, ...})"
        ),
    }
    atomic_write(out, lambda f: f.write(blob))
    atomic_write_text(meta, json.dumps(description, indent=2) + "\n")
    summary = {"checkpoint": str(ckpt), "out": str(out), "description": str(meta), "format": fmt}
    summary["inputs"] = ", ".join(f"{i['name']} {i['dtype']} {i['shape']}" for i in spec.inputs)
    summary["output"] = f"images float32 {description['output']['shape']} in [-1, 1]"
    print("\n".join(f"{k:12s} {v}" for k, v in summary.items()), flush=True)
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (the `gan-zoo export` command)."""
    exit_on_user_error(export_generator, cfg)


if __name__ == "__main__":
    main()
