"""Workbench engine: the library behind the app. It never imports gradio.

Importing it applies the process-wide runtime settings (:mod:`engine.runtime`) before torch starts
its threads, so every entry point runs the same way.
"""

from engine import runtime

runtime.configure()
