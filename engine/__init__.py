"""Workbench engine: the library behind the app. It never imports gradio."""
