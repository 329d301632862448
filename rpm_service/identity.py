"""Who a visitor is: a person's browser, not a tab, so that shares of the queue and "my runs" follow the person.

Streamlit gives every browser a cookie when XSRF protection is on (its default, ``server.enableXsrfProtection``):
``_streamlit_xsrf``, a random 16-byte token set on the first page load and kept by the browser for every tab and
every later visit. The cookie's text changes on each page load (version 2 tokens are re-masked:
``2|mask|token XOR mask|timestamp``), the token under it does not. A visitor's id is a hash of that token:

- every tab of one browser has the same id (four tabs hold one share of the queue, ``Limits.per_client``);
- behind a balancer, every server derives the same id from the same cookie (the token is preserved when another
  server re-masks it), so a visitor whose server died finds their jobs after reconnecting (``mine(client)``);
- the id is not the token: pages and job tables can show or log it without handing out the XSRF secret.

Where no such cookie arrives (XSRF protection switched off, a client that does not keep cookies) there is no
browser to recognise, and the caller falls back to a per-session id. A platform's login (``st.user``) wins over the
cookie where one exists (``from_login``). A visitor who clears cookies becomes a new visitor: shares are about
fairness between well-meaning students, not a security boundary (the limits per run and per server still hold).
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping

XSRF_COOKIE = "_streamlit_xsrf"
ID_CHARS = 16  # hex characters of a visitor id


def xsrf_token(cookie: str) -> bytes | None:
    """The token under a ``_streamlit_xsrf`` cookie's mask (version 2, or an unmasked version 1 hex token); None if
    the text is not such a cookie."""
    try:
        if cookie.startswith("2|"):
            _, mask_hex, masked_hex, _ts = cookie.split("|")
            mask, masked = binascii.a2b_hex(mask_hex), binascii.a2b_hex(masked_hex)
            if len(mask) != 4 or not masked:
                return None
            return bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        if "|" not in cookie and len(cookie) >= 32:
            return binascii.a2b_hex(cookie)
    except (ValueError, binascii.Error):
        return None
    return None


def _hash(kind: str, value: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\0" + value).hexdigest()[:ID_CHARS]


def visitor_from_cookies(cookies: Mapping[str, str]) -> str | None:
    """The visitor id of the browser that sent ``cookies`` (``st.context.cookies``), or None without a usable cookie."""
    raw = cookies.get(XSRF_COOKIE)
    token = xsrf_token(raw) if isinstance(raw, str) else None
    return _hash("xsrf", token) if token else None


def from_login(user: str) -> str:
    """The visitor id of a logged-in user (a platform's login, e.g. ``st.user.email``)."""
    return _hash("login", user.strip().lower().encode())
