"""Guarantees: the optimizer's block bounds and the certificate on an answer's own frames."""
