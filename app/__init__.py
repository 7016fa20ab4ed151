"""``python -m app``: the checkout's shim that starts REGroup Explorer (the app is :mod:`regroup_app`).
Not installed; it only keeps the README's command working from a checkout."""
