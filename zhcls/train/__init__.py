"""Teacher fine-tuning, the shared training loop, and the TF-IDF baseline."""
