"""Fine-tuning: the only package that imports TRL and PEFT. `fit` is the fine-tune stage every
command runs; `trainer` translates the config for TRL and PEFT and trains; `tuned` saves a fine-tune
and loads it back for generation; `losses` reads a training log."""
