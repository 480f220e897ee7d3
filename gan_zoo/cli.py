"""`gan-zoo COMMAND [hydra overrides]`: dispatches to the Hydra apps, after checking the overrides.

The check composes the config first (milliseconds), so a typo gets a short message naming the key,
the valid choices and the closest match instead of Hydra's traceback.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

COMMANDS = {
    "train": ("gan_zoo.train", "train", "train a GAN (default: DCGAN on 5,000 offline MNIST digits)"),
    "sample": ("gan_zoo.sample", "sample", "write samples of a checkpoint to .npz + a PNG grid"),
    "translate": (
        "gan_zoo.translate",
        "translate",
        "translate held-out images (or a folder) with a Pix2Pix/CycleGAN checkpoint",
    ),
    "project": (
        "gan_zoo.project",
        "project",
        "find the latents of real images in a trained generator (reconstructions, distances)",
    ),
    "analyse": (
        "gan_zoo.analyse",
        "analyse",
        "analyse a trained generator: interpolate, label-sweep, truncation, traverse, steer, mixing, augment",
    ),
    "export": (
        "gan_zoo.export",
        "export",
        "write a checkpoint's generator as a TorchScript or ONNX module (+ a .json of its inputs)",
    ),
    "evaluate": ("gan_zoo.evaluate", "evaluate", "score a checkpoint, an .npz or an image folder (FID, KID, IS, ...)"),
    "report": ("gan_zoo.report", None, "compare the runs of a multirun folder: mean and 95% CI per config, plots"),
    "records": ("gan_zoo.records", None, "record a finished run under experiments/; regenerate the results tables"),
    "weights": (
        "gan_zoo.weights",
        None,
        "put model weights into the project cache, offline too: gan-zoo weights inception",
    ),
}

USAGE = """usage: gan-zoo COMMAND [KEY=VALUE ...] [--help]

commands:
{commands}

`gan-zoo COMMAND --help` lists the config groups, their options and every key.
Examples:
  gan-zoo train
  gan-zoo train experiment=wgan_gp_grid25 seed=1
  gan-zoo sample checkpoint=outputs/train/dcgan_mnist/<run>/checkpoints/best.ckpt num=1000 out=s.npz
  gan-zoo evaluate checkpoint=outputs/train/dcgan_mnist/<run> metrics=[fid,kid,pr,dc,memorisation]
  gan-zoo evaluate samples=s.npz data=mnist_mini
  gan-zoo project checkpoint=outputs/train/dcgan_mnist/<run> input=digits.npz out=proj.npz
  gan-zoo analyse interpolate checkpoint=outputs/train/dcgan_mnist/<run> out=analysis/
  gan-zoo train experiment=cyclegan_digits_mnist
  gan-zoo translate checkpoint=outputs/train/cyclegan_digits_mnist/<run> out=t.npz
  gan-zoo export checkpoint=outputs/train/dcgan_mnist/<run> format=onnx out=g.onnx
  gan-zoo report outputs/train/multirun/<run_id>
  gan-zoo records add outputs/train/dcgan_mnist/<run> --command "gan-zoo train" --wall "153 s"
  gan-zoo weights inception
"""


def usage() -> str:
    """The top-level help text."""
    return USAGE.format(commands="\n".join(f"  {k:8s} {v[2]}" for k, v in COMMANDS.items()))


# Hydra flags that take a value (`--cfg job`, `-cn train`): the value is not an override.
_FLAGS_WITH_VALUE = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
}


def _overrides_only(args: Sequence[str]) -> list[str]:
    """The KEY=VALUE overrides among the command-line arguments (flags and their values dropped)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def _first_values(overrides: Sequence[str]) -> list[str]:
    """Replace sweep overrides (a=1,2) by their first value so one composition can check them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = []
    for text in overrides:
        try:
            ov = parser.parse_override(text)
        except Exception:  # noqa: BLE001 - let compose() report the syntax error
            out.append(text)
            continue
        if ov.is_sweep_override():
            try:
                first = next(iter(ov.sweep_string_iterator()))
            except Exception:  # noqa: BLE001 - glob sweeps etc. need the config; skip the check
                continue
            out.append(f"{ov.get_key_element()}={first}")
        else:
            out.append(text)
    return out


RENAMED_KEYS = {"truncation_cutoff": "psi_cutoff"}  # old name -> today's (style-based games' truncation in w)


def _suggest_key(cfg: DictConfig, dotted: str) -> str:
    """'Valid keys under model: ...' with a close match, for an unknown dotted key."""
    parts = dotted.lstrip("+~").split(".")
    node, path = cfg, []
    for p in parts[:-1]:
        if isinstance(node, DictConfig) and p in node:
            node, path = node[p], path + [p]
        else:
            break
    where = ".".join(path) or "the top level"
    leaf = parts[len(path)]
    keys = [k for k in node.keys() if k != "hydra"] if isinstance(node, DictConfig) else []
    close = difflib.get_close_matches(leaf, keys, n=1)
    hint = f" Did you mean '{'.'.join(path + close)}'?" if close else ""
    from gan_zoo.models.contract import TRUNCATION_KEYS  # here: gan_zoo.models imports Lightning (seconds)

    other = {**RENAMED_KEYS, **{k: v[1] for k, v in TRUNCATION_KEYS.items() if v[1]}}.get(leaf)
    if other in keys:  # a truncation key of the other meaning, or an old name: the key this config has
        hint = f" Use '{'.'.join(path + [other])}' here (truncation: a threshold on z; psi: w towards the mean w)."
    return (
        f"unknown config key '{dotted}'.{hint} Valid keys under {where}: {', '.join(sorted(map(str, keys)))}. "
        f"To add a new key on purpose, write +{dotted}=VALUE."
    )


def _missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Dotted keys whose value is '???', found without resolving interpolations."""
    out = []
    for key in node.keys():
        if OmegaConf.is_missing(node, key):
            out.append(f"{prefix}{key}")
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not OmegaConf.is_interpolation(node, key):
            out += _missing_keys(child, f"{prefix}{key}.")
    return out


def check_overrides(config_name: str, overrides: Sequence[str]) -> str | None:
    """Compose the config with these overrides; return a user-facing message if that fails."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    plain = _first_values(_overrides_only(overrides))
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("gan_zoo.conf", version_base="1.3"):
            try:
                cfg = compose(config_name, overrides=plain)
            except MissingConfigException as e:
                return str(e).strip()
            except (ConfigCompositionException, OverrideParseException) as e:
                msg = str(e)
                cause = str(e.__cause__ or "")
                if "not in struct" in cause or "not in struct" in msg or "Key '" in cause:
                    bad = next(
                        (
                            o.split("=", 1)[0]
                            for o in plain
                            if "Could not override '" + o.split("=", 1)[0].lstrip("+~") + "'" in msg
                        ),
                        None,
                    )
                    if bad is not None:
                        base = compose(config_name, overrides=[o for o in plain if not o.startswith(bad + "=")])
                        return _suggest_key(base, bad)
                return f"{msg} {cause}".strip()
            missing = _missing_keys(cfg)
            if missing:
                return (
                    "these keys must be set: "
                    + ", ".join(missing)
                    + " (e.g. "
                    + " ".join(f"{k}=..." for k in missing)
                    + ")"
                )
    finally:
        GlobalHydra.instance().clear()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gan-zoo` console script."""
    import importlib
    import importlib.util

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    cmd, rest = args[0], args[1:]
    if cmd not in COMMANDS:
        print(
            f"gan-zoo: error: unknown command '{cmd}'. Commands: {', '.join(COMMANDS)}.\n\n{usage()}", file=sys.stderr
        )
        return 2
    module_name, config_name, _ = COMMANDS[cmd]
    if config_name is None:  # a plain command (argparse), not a Hydra app
        return importlib.import_module(module_name).main(rest)
    if cmd == "analyse" and rest and "=" not in rest[0] and not rest[0].startswith("-"):
        rest = [f"mode={rest[0]}", *rest[1:]]  # `gan-zoo analyse MODE ...`: the mode is the first word
    if cmd == "evaluate":  # `metrics=[...]` names the metrics; Hydra would take it for the `metrics` config group
        rest = [f"metric_names={a.split('=', 1)[1]}" if a.startswith("metrics=") else a for a in rest]
    _stop_on_sigterm_like_ctrl_c()
    try:
        if not any(a in ("-h", "--help", "--hydra-help", "--info") for a in rest):
            problem = check_overrides(config_name, rest)
            if problem:
                print(f"gan-zoo {cmd}: error: {problem}", file=sys.stderr)
                return 2
        module = importlib.import_module(module_name)
        # Lightning's DDP launcher re-executes `python -m <__main__'s module> sys.argv[1:]` for every rank:
        # make that `python -m gan_zoo.train <overrides>`, not this dispatcher (which needs the command word).
        main_module = sys.modules["__main__"]
        main_module.__spec__ = importlib.util.find_spec(module_name)
        sys.argv = [module.__file__, *rest]
        module.main()
    except KeyboardInterrupt as e:  # before the command installed its own handlers (start-up): nothing was written
        again = " ".join(["gan-zoo", cmd, *rest])
        print(
            "interrupted at generator step 0; resume with: " + again
            if cmd == "train"
            else f"gan-zoo {cmd}: interrupted; run `{again}` again",
            flush=True,
        )
        return 143 if e.args == ("SIGTERM",) else 130
    return 0


def _stop_on_sigterm_like_ctrl_c() -> None:
    """Until a command installs its own handlers, SIGTERM interrupts like Ctrl-C (no traceback, exit 143)."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
