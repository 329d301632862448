"""UI-side logic of the Streamlit explorer that is worth testing without Streamlit: the view state and its URL
form (``state``), the run catalogue (``catalog``), the prior preview in latent space (``priors``) and media export
(``media``). ``explorer.ui`` is the thin Streamlit glue the pages share."""
