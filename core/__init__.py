"""scenario-pack core: the machinery every scenario shares. Scenarios say what; core says how."""
