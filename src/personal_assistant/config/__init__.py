"""Settings and the components configured from them (engine, health router, optimizer)."""
