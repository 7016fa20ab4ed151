"""Cached calls into ``regroup_core`` shared by every browser session: models and predictions
(:mod:`.cache`), sample images (:mod:`.gallery`), attacks through the shared adversarial cache
(:mod:`.attacking`), the t-SNE map (:mod:`.tsne_map`), the paper's experiments (:mod:`.suites`), fitting
(:mod:`.fitting`), the Tour's case (:mod:`.tour_case`), shipped results, server paths, uploads and torch
threads. Imports ``regroup_core`` and :mod:`regroup_app.state`, never the UI."""
