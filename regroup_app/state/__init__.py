"""The app's per-session state: one typed object (:class:`AppState`, from :func:`state`) and the values
it holds (the model choice, the current image, the last attack). Imports only ``regroup_core``."""

from .session import (
    AppState,
    AttackChoice,
    CurrentImage,
    LastAttack,
    ModelChoice,
    image_from_pil,
    image_tensor,
    shipped_classifier,
    state,
)

__all__ = ["AppState", "AttackChoice", "CurrentImage", "LastAttack", "ModelChoice", "image_from_pil",
           "image_tensor", "shipped_classifier", "state"]
