"""Speed of the app's hot paths, through the calls the pages make (medians; not a test).

    python -m benchmarks.bench_app [--repeats 10] [--json] [--skip-resnet] [--paint-runs 3] [--first-paint-only]

In a real browser (Chromium + Playwright; :mod:`benchmarks.first_paint`), ``--paint-runs`` cold launches of
``python -m app``:
  * ``first_paint_s``        process start → the title and the loading message are visible   goal ≤ 3 s

Embedded model (mnist-vgg), the app's torch thread cap (:func:`regroup_app.services.threads.configure_threads`):
  * ``predict_all_ranks_s``  one image, every layer's ranks (Layer ranks, Attack lab)        goal ≤ 1 s
  * ``pgd_s``                PGD preset (40 steps, ε = 32/255) on one image (Attack lab)      goal ≤ 2 s
  * ``page_switch_s``        a page switch in a running app (AppTest), nothing refitted       goal ≤ 0.5 s
  * ``tsne_add_class_s``     t-SNE page: add a class to the default 3 (AppTest; that class's
                             accumulators and attacks computed, the others from cache)       goal ≤ 1.5 s
ResNet-50 with random weights and synthetic 1 000-class classifiers (timing does not depend on
the values; no download):
  * ``resnet50_predict_s``   one 224 × 224 image, REGroup k = 5                              goal ≤ 2 s
  * ``resnet50_layer_ranks_all_classes_s``  what Layer ranks does for "Show all 1000 classes":
                             all 54 layers ranked, the 54 × 1 000 heatmap and the Borda build-up
                             built and serialised for the browser                            goal ≤ 5 s

The last line of the output is one JSON object (``--json`` also prints the details).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks.first_paint import first_paint

ROOT = Path(__file__).resolve().parent.parent

GOALS = {"first_paint_s": 3.0, "predict_all_ranks_s": 1.0, "pgd_s": 2.0, "page_switch_s": 0.5, "tsne_add_class_s": 1.5,
         "resnet50_predict_s": 2.0, "resnet50_layer_ranks_all_classes_s": 5.0}


def _times(fn, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _summary(times: list[float]) -> dict:
    return {"median": round(statistics.median(times), 4), "min": round(min(times), 4), "runs": len(times)}


def embedded(repeats: int) -> dict:
    import regroup_core
    from regroup_app.state import shipped_classifier
    from regroup_core.attacks import run_attack
    from regroup_core.sources.mnist import mnist_split

    bundle = regroup_core.load_model("mnist-vgg")
    defended = regroup_core.load_defended(bundle, shipped_classifier("mnist-vgg"))
    x, y = mnist_split("test").tensors
    x1, y1 = x[:1], y[:1]
    out = {"predict_all_ranks_s": _summary(_times(lambda: defended.predict(x1, k=defended.classifiers.k, scope="all"),
                                                  repeats)),
           "pgd_s": _summary(_times(lambda: run_attack(bundle, x1, y1, "pgd", epsilon_255=32.0),
                                    max(3, repeats // 2)))}
    return out


def app_paths(repeats: int) -> dict:
    """Page switches and adding a t-SNE class, in a running app (AppTest), counting reloads."""
    import regroup_core
    from streamlit.testing.v1 import AppTest

    calls = {"fit": 0, "load_model": 0, "load_defended": 0}

    def counting(name, fn):
        def wrapper(*a, **kw):
            calls[name] += 1
            return fn(*a, **kw)
        return wrapper

    regroup_core.fit = counting("fit", regroup_core.fit)
    regroup_core.load_model = counting("load_model", regroup_core.load_model)
    regroup_core.load_defended = counting("load_defended", regroup_core.load_defended)
    at = AppTest.from_file(str(ROOT / "regroup_app" / "streamlit_app.py"), default_timeout=300)
    at.run()
    pages = ["layer_ranks", "classroom", "attack_lab", "model", "layer_ranks", "classroom", "tour", "draw"]
    for page in pages:  # first visits compute (predictions, the tour's attacks)
        at.switch_page(f"app_pages/{page}.py").run()
    before = dict(calls)
    switches = []
    for _ in range(max(1, repeats // 4)):
        for page in pages:
            t0 = time.perf_counter()
            at.switch_page(f"app_pages/{page}.py").run()
            switches.append(time.perf_counter() - t0)
            assert not at.exception, [e.value for e in at.exception]
    out: dict = {"page_switch_s": {**_summary(switches), "pages": pages},
                 "loads_during_switches": {k: calls[k] - before[k] for k in calls}}

    at.switch_page("app_pages/tsne.py").run()  # the default view: classes 0, 1, 7 (warm)
    adds = []
    for c in (2, 3, 4, 5, 6, 8, 9)[:max(3, min(7, repeats))]:
        at.multiselect(key="tsne-classes").set_value([0, 1, 7]).run()  # back to the cached default
        t0 = time.perf_counter()
        at.multiselect(key="tsne-classes").set_value([0, 1, 7, c]).run()  # a class never computed before
        adds.append(time.perf_counter() - t0)
        assert not at.exception, [e.value for e in at.exception]
    out["tsne_add_class_s"] = {**_summary(adds), "note": "classes 0, 1, 7 + one new class, 25 images each, "
                                                         "PGD overlay on, the default pos+neg map"}
    return out


def resnet50(repeats: int) -> dict:
    import numpy as np
    import plotly.io as pio
    import torch

    from regroup_app.ui import plots
    from benchmarks.bench_inference import synthetic_classifiers
    from regroup_core import REGroup
    from regroup_core.analysis.ranks import borda_buildup, focus_classes, image_ranks
    from regroup_core.sources.models import load_model

    bundle = load_model("resnet50", weights="random")
    defended = REGroup(bundle.model, synthetic_classifiers(bundle))
    x = torch.rand(1, *bundle.input_shape, generator=torch.Generator().manual_seed(0))

    def layer_ranks_page():
        pred = defended.predict(x, k=defended.classifiers.k, scope="all")
        pos, neg = image_ranks(pred.pos_ranks, pred.neg_ranks)
        m = bundle.num_classes
        marks = {"true": None, "softmax": int(pred.softmax_labels[0]), "REGroup": int(pred.regroup_labels[0])}
        classes = focus_classes(pos, neg, top_n=None, marked=[c for c in marks.values() if c is not None])
        layers = [layer.name for layer in pred.layers]
        heat = plots.rank_heatmap(pos[:, classes].numpy(), layers=layers, classes=classes,
                                  class_names=bundle.class_names, num_classes=m, title="clean", marks=marks,
                                  k=defended.classifiers.k)
        lines = focus_classes(pos, neg, top_n=10, marked=[c for c in marks.values() if c is not None])
        build = plots.buildup_lines(borda_buildup(pos, neg).numpy(), classes=lines, class_names=bundle.class_names,
                                    layers=layers, chosen_k=defended.classifiers.k, marks=marks)
        return len(pio.to_json(heat)) + len(pio.to_json(build))

    size = layer_ranks_page()
    return {"resnet50_predict_s": _summary(_times(lambda: defended.predict(x, k=5), repeats)),
            "resnet50_layer_ranks_all_classes_s": {**_summary(_times(layer_ranks_page, max(3, repeats // 2))),
                                                   "figure_json_mb": round(size / 2**20, 2)},
            "resnet50_layers": len(bundle.layers), "numpy": np.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the details as JSON too")
    parser.add_argument("--skip-resnet", action="store_true", help="embedded model only")
    parser.add_argument("--paint-runs", type=int, default=3, help="cold launches timed in Chromium (0: none)")
    parser.add_argument("--first-paint-only", action="store_true", help="only the launches in Chromium")
    args = parser.parse_args()
    if args.first_paint_only:
        return _report(first_paint(args.paint_runs), args.json)

    import os

    import torch

    from regroup_app.services.threads import configure_threads

    details: dict = first_paint(args.paint_runs) if args.paint_runs else {}  # before anything else loads here
    configure_threads()  # what the app does at start
    details.update({"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "device": "cpu"})
    details.update(embedded(args.repeats))
    details.update(app_paths(args.repeats))
    if not args.skip_resnet:
        details.update(resnet50(args.repeats))
    return _report(details, args.json)


def _report(details: dict, as_json: bool) -> int:
    """Print the details and, last, one JSON line of medians; exit 1 when a goal is missed."""
    summary = {key: details[key]["median"] for key in GOALS if key in details}
    summary["goals_met"] = all(summary[k] <= goal for k, goal in GOALS.items() if k in summary) and \
        not any(details.get("loads_during_switches", {}).values())
    if as_json:
        print(json.dumps(details, indent=2))
    else:
        for key, value in details.items():
            print(f"{key:36s} {value}")
    print(json.dumps(summary))
    return 0 if summary["goals_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
