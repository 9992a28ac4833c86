"""Built-in pretrained encoders: known by name, loaded from the hub online or from a bundled copy offline."""
