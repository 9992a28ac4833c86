"""Model pruning: vocabularies cut to the pieces a task uses."""
