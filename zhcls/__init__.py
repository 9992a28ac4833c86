"""zhcls: Chinese BERT text classifiers, fine-tuned, distilled, quantized and run anywhere."""

__version__ = "0.1.0"
