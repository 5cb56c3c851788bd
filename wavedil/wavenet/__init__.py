"""The autoregressive WaveNet family: the model (``model``), the one description of its step
and the state every step runs over (``plan``), its per-sample features from its own past
(``excitation``: pitch taps, the LP and pitch predictions), the generation driver
(``generate``), its engines (``engines/``: the plan run by torch or by compiled numba and C
kernels) and its TorchScript/ONNX export (``export``)."""
