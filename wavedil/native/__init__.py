"""All of the package's native code: the C sources (``gemm.c``, ``stack.c``, ``sampler.c``,
``gate.c``, ``effect_layer.c``, with ``vec8.h`` and ``vmath8.h``), their build with the system
compiler (``build``), their loaders (``kernel``: the generation engine's kernel; ``gate``: the
chunked training pass's gate; ``effect_layer``: a layer of the effect training pass), each
returning the kernel with its capabilities or an ``Unavailable`` that says why, and numba's side
of the calls (``jit``)."""
