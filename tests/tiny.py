"""The smallest configuration the app trains in about a second, as a URL query (shared by AppTest and browser tests)."""

TINY_QUERY = {"frames": "24", "size": "32", "diam": "6", "c": "rbf;theta=1", "epochs": "2"}
