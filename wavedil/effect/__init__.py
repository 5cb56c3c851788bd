"""The effect family, in Neural Amp Modeler's WaveNet layout: the model (``model``), one
layer of it with NAM's newer features (``layer``) and its activations (``activations``),
``.nam`` files read and written (``nam``), the streaming processor behind ``wavedil process``
(``process``), its compiled engine (``engine``, ``kernels``), the paired input/output data it
trains on (``paired``) and the pedal of the embedded pair (``reference``)."""
