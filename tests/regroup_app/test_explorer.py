"""AppTest of the explorer's guided and shareable behaviour: the Tour, links (query parameters) that
reopen a view, truthful result lines (ties, images already misclassified), drawing a digit, the
t-SNE per-class caches, shipped results and the HTML report."""

from __future__ import annotations

from pathlib import Path

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from apptest_helpers import assert_clean, charts, rendered, start

TIED = "mnist:test:494"   # mnist-vgg: a 4 whose Borda count ties 4 and 9 (51 points each)
WRONG = "mnist:test:171"  # mnist-vgg: the softmax misclassifies it


def _open(page: str | None, **params):
    """A fresh app opened on ``/page?params`` (a shared link)."""
    from streamlit.testing.v1 import AppTest

    from apptest_helpers import ENTRY

    at = AppTest.from_file(ENTRY, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    if page is not None:  # the link's page is the first page this session runs, as in a browser
        at.switch_page(f"app_pages/{page}.py")
    return at.run()


def _params(at) -> dict[str, str]:
    """The app's current query string (AppTest keeps a value or a list of values per name)."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


# ---- the Tour ---------------------------------------------------------------------------------

def test_tour_is_the_default_page_and_every_step_is_computed():
    at = start()
    assert at.title[0].value == "A tour of REGroup"
    texts = {}
    for step in range(1, 8):
        if step > 1:
            at.button(key="tour-next-bottom").click().run()
        assert_clean(at)
        assert _params(at)["step"] == str(step)
        texts[step] = _markdown(at) + "\n".join(b.value for b in (*at.success, *at.info, *at.warning))
    assert "6 voters" in texts[1] and "k = 3" in texts[1]
    assert "This voter ranks the classes by KL divergence" in texts[2]
    assert "put the true class 8 first" in texts[3]
    assert "of the 54 possible points" in texts[4]
    # the curated case: the transfer attack fools the softmax, REGroup holds; the adaptive one gets through
    assert "softmax: :red-badge[fooled]" in texts[5] and "REGroup: :green-badge[held]" in texts[5]
    assert "REGroup: :red-badge[fooled]" in texts[6]
    assert "left REGroup **held**" in texts[7] and "left it **fooled**" in texts[7]
    at.button(key="tour-back-bottom").click().run()
    assert _params(at)["step"] == "6"


def test_tour_claims_match_a_direct_computation():
    """What the tour's transfer step says is what the library computes for the curated case."""
    import torch

    from regroup_app.services import cache
    from regroup_app.services import tour_case as tour
    from regroup_app.services.attacking import attack_image
    from regroup_app.state import AttackChoice
    from regroup_core.analysis.outcome import Effect

    case = tour.tour_case()
    assert case.curated and case.image_id.startswith("mnist:test:") and case.attack == "pgd"
    image, x = tour.image()
    _, pred, outcome = tour.attacked(x, image.label, "transfer")
    assert outcome.effect("softmax") is Effect.FOOLED and outcome.effect("regroup") is Effect.HELD
    defended = cache.defended_model(tour.model_choice())
    result = attack_image(tour.model_choice(), x, image.label, AttackChoice("pgd", "transfer", 32.0, None, None, 0))
    direct = defended.predict(result.adversarial, scope="all")
    assert int(direct.regroup_labels[0]) == image.label and not bool(direct.regroup_tied[0])
    assert torch.equal(direct.pos_ranks, pred.pos_ranks)


def test_tour_step_link_reopens_the_step_and_a_bad_step_is_a_warning():
    at = _open(None, step="5")
    assert_clean(at)
    assert at.session_state["tour-step"].startswith("5")
    bad = _open(None, step="twelve")
    assert not bad.exception and bad.session_state["tour-step"].startswith("1")
    assert any("step=twelve" in w.value for w in bad.warning)


# ---- shareable views --------------------------------------------------------------------------

def test_attack_lab_link_round_trip_reopens_the_same_result():
    at = start("attack_lab")
    at.radio(key="image-from").set_value("Test set").run()
    at.number_input(key="test-index").set_value(201).run()
    at.selectbox(key="attack-name").set_value("deepfool").run()
    at.button(key="attack-run").click().run()
    assert_clean(at)
    params = _params(at)
    assert params["model"] == "mnist-vgg" and params["image"] == "mnist:test:201"
    assert params["attack"] == "deepfool" and params["threat"] == "transfer" and params["run"] == "1"
    verdict = next(m.value for m in at.markdown if m.value.startswith("**deepfool**"))
    again = _open("attack_lab", **params)  # a colleague opens the copied link
    assert_clean(again)
    assert again.session_state["current_image"].id == "mnist:test:201"
    assert again.selectbox(key="attack-name").value == "deepfool"
    assert next(m.value for m in again.markdown if m.value.startswith("**deepfool**")) == verdict
    assert np.array_equal(again.session_state["last_attack"].adversarial, at.session_state["last_attack"].adversarial)
    assert _params(again) == params


def test_links_of_other_pages_round_trip():
    at = _open("tsne", classes="0,3,9", layer="classifier.0", n="10", adversarial="0")
    assert_clean(at)
    assert at.multiselect(key="tsne-classes").value == [0, 3, 9]
    assert at.selectbox(key="tsne-layer").value == "classifier.0"
    assert _params(at) == {"model": "mnist-vgg", "layer": "classifier.0",
                                                              "classes": "0,3,9", "n": "10", "adversarial": "0"}
    room = _open("classroom", image="mnist:test:7", k="2")
    assert_clean(room)
    assert room.slider(key="class-k").value == 2 and room.session_state["current_image"].id == "mnist:test:7"
    bench = _open("benchmark", attacks="deepfool", threats="transfer,adaptive", n="5", epsilon="16")
    assert bench.multiselect(key="bench-attacks").value == ["deepfool"]
    assert bench.multiselect(key="bench-threats").value == ["transfer", "adaptive"]
    assert bench.number_input(key="bench-n").value == 5 and bench.slider(key="bench-eps").value == 16.0


def test_layer_ranks_link_reproduces_the_attack():
    at = _open("layer_ranks", image="mnist:test:3", attack="pgd", threat="transfer", epsilon="32", seed="0", run="1")
    assert_clean(at)
    assert at.session_state["last_attack"].settings["attack"] == "pgd"
    assert charts(at) == 5  # clean, adversarial, change, and two build-up tabs
    assert _params(at)["attack"] == "pgd" and _params(at)["run"] == "1"


@pytest.mark.parametrize("params, words", [
    ({"epsilon": "abc", "attack": "pgd"}, ["epsilon=abc", "expected a number"]),
    ({"image": "mnist:test:99999"}, ["image=mnist:test:99999", "index from 0 to 999"]),
    ({"image": "/etc/passwd:1"}, ["image=/etc/passwd:1", "expected mnist:"]),
    ({"model": "gpt-5"}, ["model=gpt-5", "expected a model"]),
    ({"attack": "nope", "colour": "blue"}, ["attack=nope", "link's colour"]),
    ({"image": "drawing:!!!"}, ["image=drawing:!!!", "drawing"]),
])
def test_bad_link_values_are_one_friendly_warning(params, words):
    at = _open("attack_lab", **params)
    assert not at.exception and not at.error
    text = rendered(" ".join(w.value for w in at.warning))
    assert all(w in text for w in words), text
    assert at.session_state["model_choice"].name == "mnist-vgg"


def test_copy_link_shows_the_address_of_the_view():
    at = start("attack_lab")
    code = [c.value for c in at.sidebar.code]
    assert code and "/attack_lab?" in code[0] and "model=mnist-vgg" in code[0] and "image=mnist:test:" in code[0]


# ---- truthful result lines --------------------------------------------------------------------

def test_tie_is_shown_as_a_tie():
    at = _open("attack_lab", image=TIED)
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "tie between 4 and 9, broken by class index → 4" in captions


def test_an_image_already_misclassified_is_not_fooled():
    at = _open("attack_lab", image=WRONG, attack="pgd", threat="transfer", run="1")
    assert_clean(at)
    verdict = next(m.value for m in at.markdown if m.value.startswith("**pgd**"))
    softmax_line = next(line for line in verdict.splitlines() if line.startswith("softmax"))
    assert "already wrong before the attack" in softmax_line and "fooled" not in softmax_line
    assert "nothing to fool" in softmax_line


def test_verdict_words_for_every_effect():
    import torch

    from regroup_app.ui import verdicts
    from regroup_core import load_model
    from regroup_core.analysis.outcome import Effect, attack_outcome
    from regroup_core.engine import Prediction, Variant

    bundle = load_model("mnist-vgg")

    def pred(first: list[int]) -> Prediction:  # one voter layer per image, ranking ``first`` on top
        rows = []
        for f in first:
            order = [f] + [c for c in range(10) if c != f]
            row = torch.empty(10, dtype=torch.int32)
            row[torch.tensor(order)] = torch.arange(1, 11, dtype=torch.int32)
            rows.append(row)
        ranks = torch.stack(rows)
        logits = torch.nn.functional.one_hot(torch.tensor(first), 10).float()
        return Prediction(layers=bundle.layers[-1:], logits=logits, pos_ranks=ranks[:, None], neg_ranks=ranks[:, None],
                          k=1, variant=Variant.BOTH)

    clean, attacked = pred([3, 5]), pred([5, 5])
    fooled = attack_outcome(clean, attacked, 3, linf=0.1)
    assert fooled.effect("softmax") is Effect.FOOLED and fooled.effect("regroup") is Effect.FOOLED
    held = attack_outcome(clean, attacked, 5, linf=0.1, i=1, j=1)
    assert held.effect("softmax") is Effect.HELD
    already = attack_outcome(clean, attacked, 4, linf=0.0)
    lines = verdicts.attack_lines(bundle, already, attack="pgd", threat="transfer")
    assert "returned the image unchanged" in lines[0] and all("fooled" not in line for line in lines)
    unknown = attack_outcome(clean, attacked, None, linf=0.1)
    assert unknown.effect("softmax") is Effect.CHANGED


# ---- drawing a digit --------------------------------------------------------------------------

def _canvas_png() -> str:
    """A white '1' stroke on a black 280 × 280 canvas, as the component returns it."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    from PIL import ImageDraw

    ImageDraw.Draw(img).line([(140, 40), (140, 240)], fill=(255, 255, 255, 255), width=22)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_draw_a_digit_votes_and_attacks_it():
    at = start("draw")
    assert_clean(at)
    assert any("Draw a digit on the canvas" in i.value for i in at.info)
    at.session_state["draw-canvas"] = {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": _canvas_png()},
                                       "backgroundFit": None}
    at.run()
    assert_clean(at)
    image = at.session_state["current_image"]
    assert image.source == "drawing" and image.id.startswith("drawing:")
    assert charts(at) == 4  # softmax/REGroup bars, pos and neg layer ranks
    assert "softmax: **1**" in _markdown(at)
    at.selectbox(key="draw-label").set_value(1).run()
    at.button(key="draw-run").click().run()
    assert_clean(at)
    assert at.session_state["last_attack"].settings["attack"] == "pgd"
    assert _params(at)["image"] == image.id  # the drawing travels in the link
    again = _open("draw", image=image.id)
    assert_clean(again)
    assert again.session_state["current_image"].png == image.png


# ---- t-SNE ------------------------------------------------------------------------------------

def test_tsne_adding_a_class_computes_only_that_class(monkeypatch):
    from regroup_core.analysis import tsne as tsne_lib
    from regroup_core.attacks import runner

    pmf_calls, attack_calls = [], []
    real_pmfs, real_attack = tsne_lib.layer_pmfs, runner.run_attack

    def counting_pmfs(model, images, layer, **kw):
        pmf_calls.append(len(images))
        return real_pmfs(model, images, layer, **kw)

    def counting_attack(bundle, images, labels, *a, **kw):
        attack_calls.append(sorted(set(labels.tolist())))
        return real_attack(bundle, images, labels, *a, **kw)

    monkeypatch.setattr(tsne_lib, "layer_pmfs", counting_pmfs)
    monkeypatch.setattr("regroup_core.attacks.cached.run_attack", counting_attack)
    at = _open("tsne", n="15", epsilon="13")  # settings no other test uses: nothing cached yet
    assert_clean(at)
    assert sorted(sum(attack_calls, [])) == [0, 1, 7] and len(pmf_calls) == 6  # clean + adversarial per class
    pmf_calls.clear()
    attack_calls.clear()
    at.multiselect(key="tsne-classes").set_value([0, 1, 7, 3]).run()
    assert_clean(at)
    assert attack_calls == [[3]] and pmf_calls == [15, 15]  # only the new class: its clean and adversarial PMFs
    pmf_calls.clear()
    at.multiselect(key="tsne-classes").set_value([0, 1, 7]).run()  # back: everything from cache
    assert pmf_calls == [] and attack_calls == [[3]]
    at.selectbox(key="tsne-layer").set_value("classifier.3").run()  # another layer: PMFs, but no new attacks
    assert len(pmf_calls) == 6 and attack_calls == [[3]]


def test_tsne_colours_are_fixed_by_class():
    at = start("tsne")
    at.toggle(key="tsne-adv").set_value(False).run()
    colour = {t["name"]: t["marker"]["color"] for t in _figure(at)["data"] if t.get("legendgroup") == "clean"}
    at.multiselect(key="tsne-classes").set_value([0, 1, 2, 7]).run()
    after = {t["name"]: t["marker"]["color"] for t in _figure(at)["data"] if t.get("legendgroup") == "clean"}
    assert colour["7"] == after["7"] and colour["1"] == after["1"]


def _figure(at) -> dict:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)


# ---- shipped results and the report -----------------------------------------------------------

def test_ablations_show_shipped_results_on_a_first_visit():
    at = start("ablations")
    assert_clean(at)
    assert charts(at) >= 1 and any("Shipped result" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 1  # the HTML report


def test_ablations_epsilon_slider_drives_the_sweep():
    at = start("ablations")
    assert any("At the slider's ε = 44" in m.value for m in at.markdown)  # the shipped sweep, at the model's budget
    at.number_input(key="abl-n").set_value(3).run()
    at.slider(key="abl-eps").set_value(48.0).run()
    at.multiselect(key="abl-eps-list").set_value([8.0]).run()
    at.button(key="run-eps-sweep").click().run(timeout=300)  # two PGD runs: slow on a busy CI machine
    assert_clean(at)
    line = next(m.value for m in at.markdown if m.value.startswith("At the slider's ε = 48"))
    assert "softmax" in line and "REGroup" in line and "95 % interval" in line


def test_benchmark_shipped_table_is_clean_and_reports_download():
    at = start("benchmark")
    assert_clean(at)
    table = at.table[0].value  # the main table; at.dataframe[0]: "All columns"
    cells = table.astype(str).to_numpy().ravel().tolist()
    assert not any(c in ("None", "nan") or c.endswith(".000000") for c in cells), cells
    assert "REGroup robust %" in table.columns and len(table.columns) <= 11
    assert len(at.get("download_button")) == 3


def test_shipped_benchmark_table_is_what_the_code_computes_now():
    """The shipped first-visit table is recomputed (empty cache) and must match, but for timings:
    a change of the attacks or tables that moves a number fails here until
    `python scripts/ship_app_results.py` is rerun (a first visit never shows stale numbers).
    Exact on purpose: the same code and batch sizes give the same bits on this machine kind, with
    1 or 2 threads (PGD's sign steps would amplify another CPU's last-bit differences)."""
    import json

    from regroup_app.services import suites as experiments
    from regroup_app.state import shipped_classifier
    from regroup_core import load_defended, load_model

    shipped = json.loads(Path("regroup_core/assets/app-results/mnist-vgg.json").read_text())
    entry = next(e for e in shipped["entries"] if e["kind"] == "table")
    p = entry["params"]
    bundle = load_model("mnist-vgg")
    defended = load_defended(bundle, shipped_classifier("mnist-vgg"))
    fresh = experiments.attack_table(bundle, defended, attacks=p["attacks"], threats=p["threats"], n=p["n"],
                                     epsilon_255=p["eps"])

    def stable(rows):
        volatile = {"seconds", "cache_hits", "elapsed", "cache"}
        out = []
        for row in json.loads(json.dumps(rows, default=str)):
            if isinstance(row.get("settings"), str):
                row["settings"] = json.loads(row["settings"])
            if isinstance(row.get("settings"), dict):
                row["settings"] = {k: v for k, v in row["settings"].items() if k not in volatile}
            out.append({k: v for k, v in row.items() if k not in volatile})
        return out

    assert stable(fresh) == stable(entry["result"])


def test_html_report_is_self_contained():
    import pandas as pd
    import plotly.graph_objects as go

    from regroup_app.ui.report import Section, html_report

    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    page = html_report("t", [Section("s", tables=[pd.DataFrame({"x": [1.25], "y": [None]})], figures=[fig, fig])],
                       settings={"n": 3})
    assert page.count("* plotly.js v") == 1  # plotly.js inlined once, for both figures
    assert "<script src=" not in page and "cdn.plot.ly/plotly" not in page  # nothing fetched when opened
    assert "1.2" in page and "–" in page and "&quot;n&quot;: 3" in page
    tight = go.Figure(go.Bar(x=["a"], y=[1]), layout={"margin": {"l": 10, "b": 10}})
    page = html_report("t", [Section("s", figures=[tight])], settings={})
    compact = page.replace(" ", "")
    assert re.search(r'"margin":\{[^}]*"l":80', compact) and '"automargin":true' in compact
    assert tight.layout.margin.l == 10  # the app's own figure is left as it was



def test_benchmark_csv_writes_nested_cells_as_json():
    import json

    import pandas as pd

    from regroup_app.ui.report import csv_bytes

    df = pd.DataFrame({"attack": ["deepfool"], "robust_at": [{"softmax": {"0.5": 100.0}}], "ci": [[83.9, 100.0]]})
    back = pd.read_csv(io.BytesIO(csv_bytes(df)))
    assert json.loads(back["robust_at"][0]) == {"softmax": {"0.5": 100.0}}
    assert json.loads(back["ci"][0]) == [83.9, 100.0]


def test_sidebar_thumbnail_shows_the_image_just_picked():
    at = start("attack_lab")
    for idx in (5, 9):
        at.select_slider(key="gallery-idx-Model's test set").set_value(idx).run()
        thumb = next(e for e in at.sidebar if type(e).__name__ == "Image")
        assert [rendered(c) for c in thumb.captions] == [at.session_state["current_image"].name]  # this run's image
