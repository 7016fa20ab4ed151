"""Compute the results the app ships (``regroup_core/assets/app-results/<model>.json``): the Ablations tabs and
the Benchmark table at the pages' default settings, so a first visit shows real numbers offline.

    python -m scripts.ship_app_results --model mnist-vgg

Each entry is keyed by the experiment, its settings, the weights fingerprint and the classifier's
digest (``regroup_app.services.shipped.entry_key``), so the pages show it only for that model and classifier file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-vgg")
    parser.add_argument("--n", type=int, default=20, help="test images (the pages' default)")
    args = parser.parse_args(argv)

    import regroup_core
    from regroup_app.services import suites
    from regroup_app.services.shipped import entry_key, shipped_dir
    from regroup_core.sources.assets import asset_path

    bundle = regroup_core.load_model(args.model)
    classifier = asset_path("classifiers", f"{args.model}.safetensors")
    defended = regroup_core.load_defended(bundle, classifier)
    eps = float(bundle.spec.demo_epsilon_255)
    base = {"n": args.n, "eps": eps}
    epsilons = sorted({float(e) for e in bundle.spec.epsilon_grid_255} | {eps})
    jobs = [
        ("variants", {**base, "attacks": ["pgd"]},
         lambda: suites.variant_table(bundle, defended, attacks=["pgd"], n=args.n, epsilon_255=eps)),
        ("k-ablation", {**base, "attack": "pgd"},
         lambda: suites.k_ablation(bundle, defended, attack="pgd", n=args.n, epsilon_255=eps)),
        ("eps-sweep", {**base, "epsilons": epsilons},
         lambda: suites.epsilon_sweep(bundle, defended, epsilons_255=epsilons, n=args.n)),
        ("table", {"attacks": ["pgd", "deepfool"], "threats": ["transfer"], **base},
         lambda: suites.attack_table(bundle, defended, attacks=["pgd", "deepfool"], threats=["transfer"],
                                          n=args.n, epsilon_255=eps)),
    ]
    entries = []
    for kind, params, compute in jobs:
        t0 = time.perf_counter()
        result = compute()
        entries.append({"kind": kind, "params": params, "key": entry_key(kind, params, bundle, defended),
                        "seconds": round(time.perf_counter() - t0, 1), "result": result})
        print(f"{kind}: {entries[-1]['seconds']} s", flush=True)
    out = shipped_dir() / f"{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": args.model, "classifier": classifier.name,
                               "made_by": "python -m scripts.ship_app_results " + " ".join(sys.argv[1:]),
                               "entries": entries}, indent=1, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
