"""REGroup Explorer: the multipage Streamlit app over :mod:`regroup_core`.

Start it with ``python -m app [streamlit flags...]``. Pages live in :mod:`app.app_pages` and
stay thin: the work is done by ``regroup_core``; this package holds UI glue only (cached
loaders in :mod:`app.state`, Plotly figures in :mod:`app.plots`, uploads, error display).
"""
