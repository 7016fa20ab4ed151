"""REGroup Explorer: the multipage Streamlit app over :mod:`regroup_core`.

Start it with ``python -m app [streamlit flags...]`` from the repository (the app is not an
installed package). Pages live in ``app/app_pages/`` and stay thin: the work is done by
``regroup_core``; this package holds UI glue only — shared cached resources in
:mod:`app.cache`, per-session state in :mod:`app.session`, Plotly figures in :mod:`app.plots`,
widgets, uploads and error display; shareable links (:mod:`app.views`), the glossary and page
intros (:mod:`app.glossary`), result lines in words (:mod:`app.verdicts`), the Tour's data
(:mod:`app.tour`), HTML reports (:mod:`app.report`), shipped results (:mod:`app.shipped`),
weights/classifier paths on the server (:mod:`app.weights`) and reproducing a link's attack
(:mod:`app.reproduce`).
"""
