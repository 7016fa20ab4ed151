"""Analyses over REGroup's per-layer results, for the app and the experiments (no UI here).

* :mod:`.ranks` — rank matrices for heatmaps: focus classes, Borda build-up over k.
* :mod:`.classroom` — voting rules over one image's real per-layer rankings, with one voter changed.
* :mod:`.tsne` — accumulator PMFs of one layer and their t-SNE embedding (paper Fig. 5), with
  further points placed into a fixed embedding (openTSNE ``transform``).
* :mod:`.outcome` — what an attack did to one image: "fooled" only when a right answer became
  wrong, Borda ties reported as ties.
* :mod:`.drawing` — a mouse drawing turned into an MNIST-like 28 × 28 digit.
"""
