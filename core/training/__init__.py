"""Fine-tuning: the only package that imports TRL and PEFT."""
