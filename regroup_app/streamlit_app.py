"""REGroup Explorer — entry point: ``regroup-explorer`` or ``python -m app`` (or ``streamlit run
regroup_app/streamlit_app.py``).

One navigation over thin pages in ``app_pages/``; the sidebar shows what this session is
working with (model, classifier, image), a link to the current view and the glossary. The
sidebar is filled *after* the page ran, so it shows the image the page just chose.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts regroup_app/ first on the path, not the folder above it
    sys.path.insert(0, str(ROOT))

import streamlit as st

# An emoji favicon is drawn by the browser (an inline SVG): nothing is fetched, the app works offline.
st.set_page_config(page_title="REGroup Explorer", page_icon="🗳️", layout="wide")

# The first run paints the title and a loading message *before* the heavy imports below (torch, foolbox and
# regroup_core: 25 s at a load average of 15 on our 2 cores, `time python -c "import regroup_app.ui.links"`;
# a blank page that long looks broken). Later runs find the modules imported and show nothing extra. Hence
# these imports sit below the first paint, not at the top.
_COLD = "regroup_app.ui.links" not in sys.modules
_loading = st.empty()
if _COLD:
    with _loading.container():
        st.title("REGroup Explorer")
        st.status("Loading the model…", state="running")
    # Let the server send these to the browser first: loading torch's libraries holds the interpreter's lock
    # for long stretches, during which the messages would wait.
    time.sleep(0.1)

from regroup_app.services.cache import defended_model  # noqa: E402 - after the first paint, see above
from regroup_app.services.model_catalog import shown_reference  # noqa: E402
from regroup_app.services.threads import configure_threads  # noqa: E402
from regroup_app.state import state  # noqa: E402
from regroup_app.ui import glossary, links  # noqa: E402
from regroup_app.ui.exploring import exploring_banner, is_exploring  # noqa: E402
from regroup_app.ui.text import md  # noqa: E402
from regroup_core.errors import RegroupError, one_line  # noqa: E402

_loading.empty()
try:
    configure_threads()
except RegroupError as exc:  # a bad REGROUP_APP_THREADS: one line, not a traceback
    st.error(md(one_line(exc), 300), icon=":material/warning:")
    st.stop()

PAGES = [
    st.Page("app_pages/tour.py", title="Tour", icon=":material/school:", default=True),
    st.Page("app_pages/model.py", title="Model", icon=":material/memory:"),
    st.Page("app_pages/attack_lab.py", title="Attack lab", icon=":material/bolt:"),
    st.Page("app_pages/draw.py", title="Draw a digit", icon=":material/draw:"),
    st.Page("app_pages/layer_ranks.py", title="Layer ranks", icon=":material/grid_on:"),
    st.Page("app_pages/ablations.py", title="Ablations", icon=":material/bar_chart:"),
    st.Page("app_pages/tsne.py", title="t-SNE", icon=":material/scatter_plot:"),
    st.Page("app_pages/classroom.py", title="Voting classroom", icon=":material/how_to_vote:"),
    st.Page("app_pages/benchmark.py", title="Benchmark", icon=":material/table_chart:"),
    st.Page("app_pages/self_test.py", title="Self-test", icon=":material/fact_check:"),
]

state().persist_widgets()
links.start()
page = st.navigation(PAGES)
notice = st.empty()  # the link's bad or unused settings, if any, above the page
sidebar = st.sidebar.container()


def _classifiers():
    """The session's classifiers when they load (a page shows why they do not), else None."""
    choice = state().model_choice
    if not choice.classifier:
        return None
    try:
        return defended_model(choice).classifiers
    except Exception:  # noqa: BLE001 - the page itself reports it, once
        return None


def _sidebar() -> None:
    with sidebar:
        app = state()
        choice = app.model_choice
        mode = " — *exploring, not the paper's rule*" if is_exploring(_classifiers()) else ""
        st.caption("**REGroup Explorer** — layer-wise generative classifiers + Borda voting")
        # uploaded file names and spec paths are the visitor's or operator's text: escaped (md), never Markdown
        st.markdown(f"**Model:** {md(shown_reference(choice.name), 120)}  \n"
                    f"**Weights:** {md(app.shown_name(choice.weights, 'default'), 60)}  \n"
                    f"**Classifiers:** {md(app.shown_name(choice.classifier, 'none yet'), 60)}{mode}")
        image = app.current_image
        if image is not None:
            st.image(image.pil(), caption=md(image.name, 60), width=96)
        with st.popover("Copy link to this view", icon=":material/link:", width="stretch"):
            st.caption("This address reopens the page with the same settings (uploaded files are not included). "
                       "Use the copy button of the box:")
            st.code(links.share_url(page.url_path), language=None, wrap_lines=True)
        glossary.sidebar_glossary()


exploring_banner(_classifiers())  # on every page while the session's classifiers are exploring ones
try:
    page.run()
finally:  # also after st.stop() / st.switch_page(): the sidebar always shows the current state
    links.finish(notice)
    _sidebar()
