"""The inverse-STFT vocoder family: a dilated stack that reads mel frames and f0 and predicts
each STFT frame, magnitude and phase, inverted in the features' own analysis (``model``). Not
autoregressive: one pass per file."""
