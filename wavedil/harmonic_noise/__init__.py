"""The harmonic-plus-noise vocoder family: a dilated stack that reads mel frames and f0 and
drives harmonic oscillators and shaped noise (``model``), over the oscillators and filters of
``synth``. Not autoregressive: one pass per file."""
