"""What a scenario is and how one is found: the plugin contract, the entry-point registry and the
skeleton `scenario new` writes."""
