"""Built-in scenarios. Each registers through the `scenario_pack.scenarios` entry point group,
exactly as a third-party package would."""
