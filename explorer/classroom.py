"""The sidebar's classroom-link builder (Streamlit): choose the page, what to hide and keep the view on screen, then
copy the link (``explorer.links`` builds and reads it)."""

from __future__ import annotations

import streamlit as st

from . import links
from .state import HIDE_FLAGS


def builder(page: str, state, limits) -> None:
    """An expander in the sidebar: page, hide flags, and the link for the view on screen (with a copy button). Its
    content is drawn only while it is open (opening it reruns the page): every page run of every visitor would
    otherwise build two widgets and the link for a closed box (issue 20: a page run's server CPU)."""
    box = st.expander("Classroom link", icon=":material/school:", key="cl_open", on_change="rerun")
    with box:
        if not box.open:
            return
        names = list(links.PATHS)
        target = st.selectbox("Page", names, index=names.index(page) if page in names else 0, key="cl_page",
                              format_func=lambda p: p.capitalize() if p != "bound" else "The bound")  # fmt: skip
        hide = st.multiselect("Hide", list(HIDE_FLAGS), default=[], key="cl_hide",
                              format_func=lambda f: links.HIDE_HELP[f])  # fmt: skip
        extra = {k: st.query_params.get_all(k) for k in st.query_params if k.startswith("x")} if target == page else {}
        link = links.classroom_link(st.context.url or "http://localhost:8501", target, state, hide, limits, extra)
        # inline code, not st.code: a code block loads the browser's syntax highlighter on every page (~0.4 s)
        with st.container(key="cl_link"):
            st.markdown(f"`{link}`  \n[Open it]({link}) · or copy it from here")
        st.caption("The view on screen (video, runs, frame, ball…) goes into the link; hidden parts stay hidden for "
                   "whoever opens it. Warnings and the server's limits are never hidden.")  # fmt: skip
