"""The Tour's data: the curated case (``regroup_core/assets/tour/<model>.json``, written by
``scripts/find_tour_case.py``) and every number its steps show, computed live and cached.

Nothing here states an outcome in advance: the steps read predictions of the clean image, of the
transfer attack and of the adaptive attack, and say what they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch

from regroup_core import Prediction
from regroup_core.analysis.classroom import Ballots, ballots
from regroup_core.analysis.outcome import AttackOutcome, attack_outcome
from regroup_core.analysis.ranks import image_ranks
from regroup_core.analysis.tsne import layer_pmfs
from regroup_core.attacks import AttackResult
from regroup_core.sources.assets import asset_path

from ..state import AttackChoice, CurrentImage, ModelChoice, image_from_pil, shipped_classifier
from .attacking import attack_image
from .cache import defended_model, model_bundle, predict_ranks
from .gallery import item_by_id

__all__ = ["TOUR_MODEL", "TourCase", "attacked", "ballots_of", "clean_prediction", "image", "model_choice",
           "tour_case", "voter_view"]

TOUR_MODEL = "mnist-vgg"
"""The Tour always tells its story on the embedded model (it works offline, in seconds)."""


@dataclass(frozen=True)
class TourCase:
    """The curated image and attack of the Tour, and how they were found."""

    image_id: str = "mnist:test:0"
    attack: str = "pgd"
    epsilon_255: float | None = 32.0
    steps: int | None = None
    seed: int = 0
    found_by: str = ""
    search: dict = field(default_factory=dict)
    curated: bool = False


@st.cache_resource(show_spinner=False)
def tour_case(model: str = TOUR_MODEL) -> TourCase:
    """The case recorded in ``regroup_core/assets/tour/<model>.json`` (the first test digit when none ships)."""
    path = asset_path("tour", f"{model}.json")
    if not path.is_file():
        return TourCase()
    record = json.loads(path.read_text())
    case = record["cases"][0]
    return TourCase(image_id=case["image"], attack=record["attack"], epsilon_255=record.get("epsilon_255"),
                    steps=record.get("steps"), seed=int(record.get("seed", 0)), found_by=record.get("found_by", ""),
                    search=record.get("search", {}), curated=True)


def model_choice() -> ModelChoice:
    """The Tour's model: the embedded one with its shipped classifier."""
    return ModelChoice(TOUR_MODEL, None, shipped_classifier(TOUR_MODEL))


def image() -> tuple[CurrentImage, np.ndarray]:
    """The case's image (as the app's other pages hold images) and its (C, H, W) tensor."""
    item = item_by_id(TOUR_MODEL, tour_case().image_id)
    current = image_from_pil(item.image, name=item.name, label=item.label, source=item.source, image_id=item.id)
    bundle = model_bundle(TOUR_MODEL, None)
    return current, bundle.preprocess(item.image).numpy()


def clean_prediction(x: np.ndarray) -> Prediction:
    return predict_ranks(model_choice(), x[None])


def attacked(x: np.ndarray, label: int, threat: str) -> tuple[AttackResult, Prediction, AttackOutcome]:
    """The case's attack under ``threat`` (through the shared adversarial cache), REGroup's and the
    softmax's answers on it, and what it did to each."""
    case = tour_case()
    request = AttackChoice(case.attack, threat, epsilon=case.epsilon_255, steps=case.steps, seed=case.seed)
    result = attack_image(model_choice(), x, label, request)
    adv = result.adversarial[0].numpy()
    pred = predict_ranks(model_choice(), adv[None])
    outcome = attack_outcome(clean_prediction(x), pred, label, linf=float(np.abs(adv - x).max()))
    return result, pred, outcome


def ballots_of(pred: Prediction) -> Ballots:
    """The 2k ballots (pos and neg voters of the highest k layers) of a one-image prediction."""
    pos, neg = image_ranks(pred.pos_ranks, pred.neg_ranks)
    return ballots(pos, neg, [layer.name for layer in pred.layers], pred.k)


@st.cache_data(show_spinner=False, max_entries=32)
def voter_view(x: np.ndarray, layer_name: str, sign: str) -> dict[str, np.ndarray]:
    """One voter's view of the image: its PMF at ``layer_name`` (``sign`` = pos or neg), every class's
    mixture (the generative classifier) and the KL divergences that rank the classes."""
    bundle = model_bundle(TOUR_MODEL, None)
    defended = defended_model(model_choice())
    layer = next(layer for layer in bundle.layers if layer.name == layer_name)
    pmf = layer_pmfs(bundle.model, torch.from_numpy(np.ascontiguousarray(x[None])), layer, variant=sign)[0]
    table = (defended.classifiers.pos if sign == "pos" else defended.classifiers.neg)[layer_name].numpy()
    kl = (table * (np.log(table) - np.log(pmf)[None, :])).sum(1)
    return {"pmf": pmf, "mixtures": table, "kl": kl}
