"""The machine a run uses: hardware and precision, base-model loading, processes under accelerate,
and interrupt handling."""
