"""``python -m regroup_app [streamlit flags...]``: the same as ``python -m app`` (see :mod:`regroup_app.launch`)."""

from regroup_app.launch import main

raise SystemExit(main())
