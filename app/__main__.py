"""``python -m app [streamlit flags...]`` from a checkout: :func:`regroup_app.launch.main`."""

from regroup_app.launch import main

raise SystemExit(main())
