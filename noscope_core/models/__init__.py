"""The cheap models: difference detectors and specialized CNNs, their training and their saved folders."""
