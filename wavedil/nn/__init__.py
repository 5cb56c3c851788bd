"""The shared building blocks every model family is made of: causal dilated convolutions with
their streaming state (``layers``), the gated residual block and the dilated blocks of the
literature (``blocks/``), the output heads (``heads``: categorical, logistic mixture, Gaussian),
conditioning (``conditioning``) and receptive-field and gridding analysis (``receptive``)."""
