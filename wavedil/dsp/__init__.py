"""Signal processing that models, data and drivers share: audio reading, writing and mu-law
(``audio``), log-mel features and their conventions (``mel``), f0 estimation (``f0``), linear
prediction (``lpc``), mel-consistent refinement of a vocoder's output (``refine``) and the
objective quality metrics (``metrics``)."""
