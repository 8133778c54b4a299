"""Age-level rating of videos from picture and sound (VidHarm: Edstedt et al., ICPR 2022).

Rates any video for the Swedish levels Btl / 7 / 11 / 15, window by window, and the whole clip by its
worst window. Modules, in the order data flows:

- :mod:`~engine.video.media`: ffmpeg (from ``imageio-ffmpeg``) decoding, frames sampled by timestamp at a
  small size, mono audio, streamed;
- :mod:`~engine.video.windows`: 10-s windows with bounded memory;
- :mod:`~engine.video.audio`: VidHarm's log-mel front end;
- :mod:`~engine.video.models` and :mod:`~engine.video.rater`: encoders, heads, fusion, saved raters;
- :mod:`~engine.video.scoring`: ``score(path, rater) -> HarmScores``;
- :mod:`~engine.video.dataset`, :mod:`~engine.video.features`, :mod:`~engine.video.training`: training
  (``python -m trainers.vidharm``) and the app's training job;
- :mod:`~engine.video.metrics`, :mod:`~engine.video.probing`, :mod:`~engine.video.annotate`,
  :mod:`~engine.video.synthetic`, :mod:`~engine.video.plots`, :mod:`~engine.video.catalog`.

Command line: ``python -m engine.video score CLIP --json`` (see :mod:`engine.video.__main__`).
"""
