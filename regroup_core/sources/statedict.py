"""Reading and applying weights files safely: ``.safetensors`` or torch files loaded with
``weights_only=True`` (never unpickling arbitrary objects), checked against the network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..checks import path_kind
from ..errors import ModelError, one_line
from ..rng import global_rng

__all__ = ["RANDOM_WEIGHTS_SEED", "apply_state", "check_finite", "read_state_dict", "seeded_build", "state_from_file"]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file, never unpickling arbitrary objects."""
    if not path_kind(path, ModelError, "a weights file"):
        raise ModelError(f"expected a weights file, got no file at '{path}'")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            import warnings

            with warnings.catch_warnings():  # torch warns about pickle protocols before refusing a file
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a bad file for the user
        if "Weights only load failed" in str(exc):
            # torch's message advises weights_only=False: never pass that on. Only "Unsupported
            # global" proves Python objects; other refusals may be random bytes or another format.
            got = ("a file holding Python objects other than tensors" if "Unsupported global" in str(exc) else
                   "a file that is not a PyTorch state dict (damaged, another format, or a pickle of other "
                   "Python objects)")
            raise ModelError(f"expected a weights file (state dict) at '{path}', got {got}: refused, nothing was "
                             "unpickled (weights_only=True)") from None
        raise ModelError(f"expected a weights file (state dict) at '{path}', got an unreadable file: "
                         f"{one_line(exc, 200)}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ModelError(f"expected a state dict of named tensors in '{path}', got {type(state).__name__}")
    return state


def apply_state(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = net.state_dict()
    for name, t in state.items():
        mine = own.get(name)
        # load_state_dict casts silently: float16/bfloat16/float64 checkpoints are ordinary and cast
        # to the model's float dtype (overflow becomes inf and is refused below); an int, bool or
        # complex tensor where a float belongs (or the reverse) is a wrong file, not a precision.
        if mine is not None and (t.dtype.is_complex or t.is_floating_point() != mine.is_floating_point()
                                 or (not mine.is_floating_point() and t.dtype != mine.dtype)):
            raise ModelError(f"expected weights for {type(net).__name__} in '{source}', got tensor '{name}' of "
                             f"dtype {t.dtype} where a {mine.dtype} tensor belongs (convert the file to "
                             f"{mine.dtype})")
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        lines = [ln.strip() for ln in one_line(exc, 1000).split(". ") if ln.strip()]
        raise ModelError(f"expected weights for {type(net).__name__} in '{source}', got a mismatch: "
                         f"{'. '.join(lines[:3])[:300]}") from None
    check_finite(net, source)


def check_finite(net: nn.Module, source: str) -> None:
    """Refuse weights holding NaN or inf (a damaged or overflowed file)."""
    bad = [name for name, t in net.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelError(f"expected finite weights in '{source}', got NaN or inf in {bad[:3]}"
                         f"{f' and {len(bad) - 3} more' if len(bad) > 3 else ''}")


RANDOM_WEIGHTS_SEED = 0
"""``weights="random"`` initialises under this seed: the same random network (and fingerprint) in
every process, so a classifier fitted on it with the CLI loads in the app and links reproduce."""


def seeded_build(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` (which initialises from torch's global RNG) seeded by :data:`RANDOM_WEIGHTS_SEED`
    under the process-wide lock of :func:`~regroup_core.rng.global_rng`: another thread's seeded
    draws cannot interleave, and the caller's RNG state is left as it was."""
    with global_rng(RANDOM_WEIGHTS_SEED):
        return build()


def state_from_file(net: nn.Module, weights: str | Path) -> str:
    """Load the state dict file ``weights`` into ``net``; its path as the weights label."""
    path = Path(weights).expanduser()
    apply_state(net, read_state_dict(path), str(weights))
    return str(weights)
