"""Words the app uses, explained once: the glossary (a dialog opened from every page's sidebar)
and the two-line introduction at the top of every page (what it shows, what to try)."""

from __future__ import annotations

import streamlit as st

__all__ = ["GLOSSARY", "INTROS", "intro", "sidebar_glossary"]

GLOSSARY: dict[str, str] = {
    "adversarial example": "An image changed slightly, within a budget ε, so that a classifier gets it wrong "
                           "while a person still sees the original class. A change larger than the model's "
                           "budget is not an adversarial example: it *changed the image*.",
    "PGD": "Projected Gradient Descent: many small steps that each raise the classifier's loss, each step pulled "
           "back into the ε budget; the standard strong attack with a fixed budget.",
    "DeepFool": "A minimisation attack: it moves the image, step by step, just across the nearest decision "
                "boundary. It has no budget of its own, so its result is judged against the model's budgets.",
    "C&W": "Carlini–Wagner: a minimisation attack that searches for the smallest L2 change that fools the "
           "classifier (with a confidence margin); judged against the model's budgets like DeepFool.",
    "softmax budget": "For each model, the ε at which PGD fools at least 90 % of its undefended softmax (measured "
                      "on 100 test digits). Below it an attack is too weak to mean anything; beyond it a "
                      "minimisation attack's result is no adversarial example.",
    "plurality": "A voting rule where only first choices count: the class most voters put first wins.",
    "Copeland": "A voting rule over pairwise duels: class A beats B if more voters rank A above B; the class "
                "with the most duels won wins (a Condorcet winner, when there is one, always wins).",
    "KL divergence": "Kullback–Leibler divergence KL(C ‖ P): how far a test PMF P is from a class's average PMF "
                     "C (0 when equal). Each voter ranks classes from the smallest KL to the largest.",
    "pre-activation": "A layer's output *before* its ReLU: positive and negative values. REGroup reads both signs.",
    "pos / neg accumulator": "For every channel of a layer, the sum over the image of the positive parts "
                             "(P) and of the negative parts (N) of its pre-activation map: two vectors with one "
                             "entry per channel.",
    "PMF": "Probability mass function: an accumulator divided by its sum (plus a tiny δ), so its entries are "
           "≥ 0 and add up to 1. Each layer gives a pos PMF and a neg PMF per image.",
    "generative classifier": "Per layer and class, the weighted average of the PMFs of correctly classified "
                             "training images of that class (Eq. 1). A test PMF is compared with every class's "
                             "average by KL divergence.",
    "voter": "One layer's pos (or neg) generative classifier. It ranks all classes from the smallest KL "
             "divergence to the largest. Each of the highest k layers casts two ballots: 2k voters.",
    "rank": "A class's place on one voter's ballot: 1 = that voter's favourite, M = its last choice "
            "(M = number of classes).",
    "Borda count": "Each voter gives a class M − rank points (M − 1 for first place, 0 for last). REGroup sums "
                   "the points of the 2k voters; the class with most points wins. A *tie* (two classes with "
                   "the same top count) is broken by the lower class index — the app says so.",
    "k": "How many of the highest layers vote. Chosen once per model: the number of top layers whose own "
         "vote reaches 75 % accuracy on held-out images (the paper's rule).",
    "softmax": "The network's own answer: the class with the largest output probability. REGroup leaves the "
               "network unchanged and answers alongside it.",
    "threat model": "What the attacker may query. **transfer**: attacks the softmax network; REGroup only sees "
                    "the result (the paper's setting). **adaptive**: white-box gradients through a smooth "
                    "stand-in for REGroup's vote. **blackbox**: queries REGroup's exact decision.",
    "fooled": "An attack fooled a classifier only if the classifier was right on the clean image and is wrong "
              "(or tied) after the attack, within the model's budget. An image it already got wrong was not "
              "fooled; a minimisation attack whose change exceeds every budget *changed the image*.",
    "tie": "Two classes share the top Borda count. The project counts a tie as an error on every page, table "
           "and curve (it is broken by class index only to name a class).",
    "ε (epsilon)": "The attack budget: the largest change allowed per pixel, on the 0–255 scale "
                   "(ε = 32 allows ±32 grey levels). L2 attacks report their own distance.",
    "#S": "The images an attack succeeded on (for transfer: fooled the softmax). The paper reports REGroup's "
          "accuracy on #S.",
    "95 % interval": "A Wilson score interval: accuracies measured on n images are uncertain; with 20 images "
                     "80 % means anything from about 58 % to 92 %.",
}

INTROS: dict[str, tuple[str, str]] = {
    "tour": ("A five-minute story of REGroup on the embedded MNIST network, computed live: how one image is "
             "voted on, an attack aimed at the softmax, and the same attack aimed at REGroup.",
             "Step through with **Next**; every number on the way is computed now, not written in advance."),
    "model": ("The network REGroup defends and its fitted layer-wise classifiers: which layers vote, how "
              "accurate each layer is on its own, and the chosen k.",
              "Switch to mnist-resnet, or to a ResNet-50 with random weights to see 54 layers."),
    "attack_lab": ("Attack one image and compare the softmax network with REGroup before and after.",
                   "DeepFool or C&W (transfer), then the same attack with the adaptive threat model."),
    "layer_ranks": ("Every layer's ranking of every class for the current image: the ballots behind the Borda "
                    "count, clean and after the last attack.",
                    "Attack the image in the Attack lab, come back, and look at the rank-change map."),
    "draw": ("Draw a digit and watch every layer vote on it; then attack your own drawing.",
             "Draw a 7 with a long stem, or an ambiguous 4/9, and see where the layers disagree."),
    "ablations": ("How REGroup's accuracy depends on its voters (pos, neg, both), on k and on the attack "
                  "budget ε, over many test images.",
                  "Move the ε slider and open the ε-sweep tab; compare k = 1 with the chosen k."),
    "tsne": ("Each point is one image's PMF at one layer, laid out in 2-D by t-SNE; colour = class.",
             "Add a class, switch the overlay on, and click an adversarial point to see its image."),
    "classroom": ("The 2k real ballots of one image under Borda, plurality and Copeland voting.",
                  "Rewrite one voter's ballot and count how many voters an attacker must control."),
    "self_test": ("Whether an attack is strong enough to trust: it must find adversarial examples that are known "
                  "to exist.",
                  "Run PGD, then the same with Steps = 1: the weakened attack should come out WEAK."),
    "benchmark": ("An attacks × threat-models table like the paper's Table 2, with 95 % intervals.",
                  "Run DeepFool under transfer and adaptive on 20 images and compare REGroup's columns."),
}


def intro(page: str) -> None:
    """The two-line introduction of ``page`` (see :data:`INTROS`)."""
    what, try_ = INTROS[page]
    st.markdown(f"{what}  \n:material/lightbulb: *Try:* {try_}")


@st.dialog("Glossary", width="large")
def _glossary_dialog() -> None:
    for term, text in sorted(GLOSSARY.items(), key=lambda item: item[0].lower()):
        st.markdown(f"**{term}** — {text}")


def sidebar_glossary() -> None:
    """A button in the sidebar of every page that opens the glossary as a dialog (a 3 300-px column
    in the sidebar was too long to read)."""
    if st.button("Glossary", icon=":material/menu_book:", key="glossary-open", width="stretch",
                 help="What the app's words mean: voter, Borda count, PGD, budget, ..."):
        _glossary_dialog()
