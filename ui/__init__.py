"""Gradio tabs: widgets and event wiring only; every computation lives in ``engine``."""
