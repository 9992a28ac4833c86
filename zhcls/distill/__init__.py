"""Task distillation of a fine-tuned teacher into a small student (issue: distill)."""
