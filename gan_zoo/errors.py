"""User-facing errors: each names the problem and the fix; the CLI prints them without a traceback."""


class GanZooError(Exception):
    """Base class for errors the CLI reports as a short message with exit code 2."""

    exit_code = 2


class ConfigError(GanZooError, ValueError):
    """A config value is invalid (wrong type, out of range, incompatible)."""


class DatasetNotFoundError(GanZooError, FileNotFoundError):
    """A dataset's files are missing; the message says where we looked and how to provide them."""


class CorruptDataError(GanZooError):
    """Files in a dataset could not be decoded (strict mode)."""


class DivergenceError(GanZooError):
    """A loss became NaN/inf; training stopped before the bad update was applied."""

    exit_code = 3


def require(cond: bool, message: str) -> None:
    """Raise ConfigError(message) unless cond holds."""
    if not cond:
        raise ConfigError(message)


def exit_on_user_error(fn, *args):  # noqa: ANN001, ANN201 - a thin wrapper for the Hydra entry points
    """Call fn(*args); one of our errors becomes a one-line message and its exit code, no traceback."""
    try:
        return fn(*args)
    except GanZooError as e:
        print(f"gan-zoo: error: {e}", flush=True)
        raise SystemExit(e.exit_code) from None


def require_int(value: object, key: str, minimum: int | None = None) -> int:
    """`value` as an int, or ConfigError naming `key` (e.g. seed=abc, batch_size=0 with minimum=1)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)
    bound = "an integer" if minimum is None else f"an integer >= {minimum}"
    require(ok, f"{key} must be {bound}, got {value!r}")
    return int(value)


def require_bool(value: object, key: str) -> bool:
    """`value` as a bool, or ConfigError naming `key` (e.g. ema=maybe)."""
    require(isinstance(value, bool), f"{key} must be true or false, got {value!r}")
    return bool(value)
