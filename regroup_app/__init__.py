"""REGroup Explorer: the multipage Streamlit app over :mod:`regroup_core`.

Start it with ``python -m app [streamlit flags...]`` from the repository (:mod:`regroup_app.launch`).
The app has four rooms, and imports flow one way, from the pages down (``tests/test_architecture.py``):

* ``app_pages/`` — thin pages (Streamlit scripts, one per page);
* :mod:`.ui` — widgets, link-synced widgets and shareable links, plots, reports, glossary, verdicts;
* :mod:`.services` — cached calls into ``regroup_core`` shared by every session (models, gallery,
  attacks through the shared adversarial cache, t-SNE, experiments, fitting);
* :mod:`.state` — one typed object for a browser session's state.

The entry script is ``streamlit_app.py``; the launcher (``streamlit_config.toml`` → flags) is :mod:`.launch`.
"""
