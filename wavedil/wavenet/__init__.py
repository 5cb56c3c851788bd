"""The autoregressive WaveNet family: the model (``model``), its per-sample features from its
own past (``excitation``: pitch taps, the LP and pitch predictions), the generation driver
(``generate``) and its engines (``engines/``: one plan of the weights, run by torch or by
compiled numba and C kernels)."""
