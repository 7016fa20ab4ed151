"""Draw a digit: draw with the mouse, see every layer vote on it, attack the drawing."""

from __future__ import annotations

import binascii

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from regroup_app.services import attacking
from regroup_app.services.cache import predict_ranks
from regroup_app.state import AttackChoice, CurrentImage, image_from_pil, image_tensor, state
from regroup_app.ui import glossary, links, plots, verdicts, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.reproduce import link_may_run, remember_attack
from regroup_app.ui.synced import synced
from regroup_app.ui.text import md
from regroup_core import ModelBundle, Prediction, REGroup
from regroup_core.analysis.drawing import digit_from_canvas
from regroup_core.analysis.outcome import verdict
from regroup_core.analysis.ranks import image_ranks
from regroup_core.errors import ImageError
from regroup_core.sources.budgets import budget_note
from regroup_core.sources.images import rgba_from_bytes

CANVAS = 280
ATTACKS = ("pgd", "deepfool")


def _canvas_rgba(result: object) -> np.ndarray | None:
    """The canvas's pixels, through the same pixel limit as every image (checked from the PNG header
    before decoding). The canvas's value comes from the browser, so anything may arrive: text that
    is no data URL, no base64, no image, a huge image — each is one ImageError, never a traceback."""
    try:
        data = result.image_bytes  # type: ignore[attr-defined] - the component's PNG, base64-decoded
    except (AttributeError, TypeError, ValueError, binascii.Error):
        raise ImageError("the canvas: expected a drawing (a PNG data URL), got something else") from None
    return None if data is None else rgba_from_bytes(data, "the canvas")


def _canvas_digit() -> np.ndarray | None:
    """The drawing as a (1, 28, 28) digit, None while the canvas is empty or holds no drawing."""
    from streamlit_drawable_canvas import st_canvas  # lazy: the component loads only on this page

    result = st_canvas(stroke_width=20, stroke_color="#ffffff", background_color="#000000", height=CANVAS,
                       width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="draw-canvas")
    try:
        rgba = _canvas_rgba(result)
        return None if rgba is None else digit_from_canvas(rgba)[None]
    except ImageError as exc:
        if "empty canvas" not in str(exc):
            st.warning(md(str(exc), 200), icon=":material/warning:")
        return None


def _layer_votes(bundle: ModelBundle, defended: REGroup, pred: Prediction, label: int | None) -> None:
    pos, neg = image_ranks(pred.pos_ranks, pred.neg_ranks)
    layers = [layer.name for layer in pred.layers]
    marks = {"true": label, "softmax": int(pred.softmax_labels[0]), "REGroup": int(pred.regroup_labels[0])}
    common = {"layers": layers, "classes": list(range(bundle.num_classes)), "class_names": bundle.class_names,
              "k": defended.classifiers.k, "num_classes": bundle.num_classes, "marks": marks}
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots.rank_heatmap(pos.numpy(), title="Every layer's ranks — pos voters", **common),
                    width="stretch", key="draw-hm-pos")
    c2.plotly_chart(plots.rank_heatmap(neg.numpy(), title="Every layer's ranks — neg voters", **common),
                    width="stretch", key="draw-hm-neg")
    firsts = [f"`{name}` {bundle.class_names[int((pos[i] == 1).nonzero()[0])]}/"
              f"{bundle.class_names[int((neg[i] == 1).nonzero()[0])]}" for i, name in enumerate(layers)]
    st.caption("First choices (pos/neg), input → output: " + " · ".join(firsts))


def _drawing(bundle: ModelBundle, left: DeltaGenerator, right: DeltaGenerator) -> CurrentImage | None:
    """The canvas and the label picker; the drawing (or the one from the link or the last visit)
    becomes the session's image. None while there is none."""
    app = state()
    current = app.current_image
    with left:
        st.caption("Draw one digit, large, in the middle (white on black, like MNIST). The toolbar under the "
                   "canvas undoes or clears.")
        drawn = _canvas_digit()
        code = None if drawn is None else links.encode_drawing(drawn)
        if code is not None and current is not None and current.source == "drawing" and \
                current.id != f"drawing:{code}":
            app.drop_widget("draw-label")  # a new drawing: the old label (and attack) belonged to the old one
        label = synced("label", "draw-label", links.one_of(range(bundle.num_classes)),
                       lambda key: widgets.class_picker(bundle, key, label="Which digit did you draw?",
                                                        unknown="not saying"))
    if drawn is not None:
        image = image_from_pil(widgets.to_pil(drawn), name="your drawing", label=label, source="drawing",
                               image_id=f"drawing:{code}")
    elif current is not None and current.source == "drawing":
        image = current if current.label == label else image_from_pil(
            current.pil(), name=current.name, label=label, source="drawing", image_id=current.id)
        left.caption("Showing the drawing from your link or your last visit; draw to replace it.")
    else:
        right.info("Draw a digit on the canvas to see every layer vote on it.")
        return None
    app.current_image = image
    return image


def _answers(bundle: ModelBundle, x: np.ndarray, image: CurrentImage, pred: Prediction) -> None:
    c1, c2 = st.columns([1, 3])
    c1.image(widgets.to_pil(x, size=112), caption="what the network sees (28 × 28)", width=112)
    s = verdict(pred, 0, image.label, classifier="softmax")
    r = verdict(pred, 0, image.label, classifier="regroup")
    c2.markdown(f"softmax: {verdicts.answer_text(bundle, s)}, p = {float(pred.probabilities[0, s.predicted]):.2f}"
                f"  \nREGroup (k = {pred.k}, {2 * pred.k} voters): {verdicts.answer_text(bundle, r)}")
    widgets.prediction_bars(bundle, pred, 0, label=image.label, title="Your drawing")


def _attack(bundle: ModelBundle, image: CurrentImage, x: np.ndarray, pred: Prediction) -> None:
    st.subheader("Attack your drawing")
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
    attack = synced("attack", "draw-attack", links.one_of(ATTACKS),
                    lambda key: c1.selectbox("Attack", ATTACKS, key=key))
    threat = synced("threat", "draw-threat", links.one_of(["transfer", "adaptive"]),
                    lambda key: c2.selectbox("Threat model", ["transfer", "adaptive"], key=key, help="\n".join(
                        f"- **{t}**: {attacking.THREAT_HELP[t]}" for t in ("transfer", "adaptive"))))
    eps = None
    if attacking.takes_linf_epsilon(attack):
        eps = float(synced("epsilon", "draw-eps", links.number(1.0, 128.0, step=1.0),
                           lambda key: c3.slider("ε (0–255 scale)", 1.0, 128.0, bundle.spec.default_epsilon_255, 1.0,
                                                 key=key, help="Default: this model's softmax budget (PGD fools "
                                                               "≥ 90 % of its undefended softmax there).")))
        c3.caption(budget_note(bundle.spec, eps))
    attacked_label = image.label if image.label is not None else int(pred.softmax_labels[0])
    request = AttackChoice(attack, threat, epsilon=eps)
    linked = links.take("run") == "1" and link_may_run(request)  # a shared link shows its attack again
    c4.write("")
    if c4.button("Attack", type="primary", key="draw-run") or linked:
        with widgets.step_progress(attacking.running_text(request)):  # names the adaptive plan's run too
            remember_attack(image, x, attacked_label, request)
    run = state().last_attack
    shown = run is not None and run.settings.get("page") == request.link()
    links.publish(label=image.label, run=1 if shown else None)
    if run is None:
        st.caption("The attack moves away from the digit you named (or, if you did not say, from the softmax's "
                   "answer).")
        return
    adv = run.adversarial
    adv_pred = predict_ranks(state().model_choice, adv[None])
    outcome = verdicts.outcome_of(bundle, pred, adv_pred, image.label, x, adv, run.settings)
    c1, c2 = st.columns([1, 3])
    c1.image(widgets.to_pil(adv, size=112), caption="attacked drawing", width=112)
    c2.markdown("  \n".join(verdicts.attack_lines(bundle, outcome, attack=run.settings.get("attack", attack),
                                                  threat=run.settings.get("threat", threat), settings=run.settings)))
    c2.page_link("app_pages/layer_ranks.py", label="How each layer's vote changed → Layer ranks",
                 icon=":material/grid_on:")


def body() -> None:
    st.title("Draw a digit")
    glossary.intro("draw")
    bundle, defended = require_defended()
    if bundle.spec.sample_set != "mnist":
        st.info(f"Drawing needs a model that reads MNIST digits; `{bundle.name}` does not. Switch to mnist-vgg or "
                "mnist-resnet on the Model page.")
        st.page_link("app_pages/model.py", label="Go to the Model page", icon=":material/memory:")
        links.publish(with_image=False)
        return
    left, right = st.columns([1, 2])
    image = _drawing(bundle, left, right)
    if image is None:
        links.publish(with_image=False, label=None)
        return
    x = image_tensor(bundle, image)
    pred = predict_ranks(state().model_choice, x[None])
    with right:
        _answers(bundle, x, image, pred)
    _layer_votes(bundle, defended, pred, image.label)
    _attack(bundle, image, x, pred)


run_page(body)
