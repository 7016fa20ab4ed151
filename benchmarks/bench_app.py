"""Speed of the app's hot paths on the embedded model, through the calls the pages make.

    python benchmarks/bench_app.py [--repeats 20] [--json]

Measures (medians; targets from issue #4):
  * prediction of one image with every layer's ranks (Layer ranks / Attack lab)  < 1 s
  * PGD (preset, 40 steps, ε = 32/255) on one image (Attack lab)                 < 2 s
  * page switches in a running app (AppTest), and that nothing is refitted or reloaded
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    from app.cache import configure_threads, shipped_classifier
    from regroup_core.sources.mnist import mnist_split

    import regroup_core
    from app import attacking

    configure_threads()  # what the app does at start
    results: dict[str, object] = {"torch_threads": torch.get_num_threads(), "device": "cpu"}
    t0 = time.perf_counter()
    bundle = regroup_core.load_model("mnist-vgg")
    defended = regroup_core.load_defended(bundle, shipped_classifier("mnist-vgg"))
    results["cold_load_s"] = round(time.perf_counter() - t0, 3)
    x, y = mnist_split("test").tensors
    x1, y1 = x[:1], y[:1]

    med, best = _median(lambda: defended.predict(x1, k=defended.classifiers.k, scope="all"), args.repeats)
    results["predict_all_layers_s"] = {"median": round(med, 4), "min": round(best, 4), "target": 1.0}
    med, best = _median(lambda: attacking.run(bundle, x1, y1, "pgd", epsilon_255=32.0), max(3, args.repeats // 4))
    results["pgd_one_image_s"] = {"median": round(med, 4), "min": round(best, 4), "target": 2.0}

    # Page switches in a running app: count fits and model/classifier loads while switching.
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
    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    pages = ["layer_ranks", "classroom", "attack_lab", "model", "layer_ranks", "classroom"]
    at.switch_page(f"app_pages/{pages[0]}.py").run()  # first visit computes the image's prediction
    loads_after_warmup = dict(calls)
    switches = []
    for page in pages[1:]:
        t0 = time.perf_counter()
        at.switch_page(f"app_pages/{page}.py").run()
        switches.append(round(time.perf_counter() - t0, 3))
        assert not at.exception, [e.value for e in at.exception]
    results["app_first_run_s"] = round(first, 3)
    results["page_switch_s"] = {"pages": pages[1:], "seconds": switches, "median": round(statistics.median(switches), 3)}
    results["loads_during_switches"] = {k: calls[k] - loads_after_warmup[k] for k in calls}
    results["loads_total"] = calls

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:24s} {value}")
    ok = (results["predict_all_layers_s"]["median"] < 1.0 and results["pgd_one_image_s"]["median"] < 2.0
          and not any(results["loads_during_switches"].values()))
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
