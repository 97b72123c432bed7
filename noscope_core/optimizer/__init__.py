"""The cost-based optimizer: the search, the decoding choice, the cascade artifact, the baselines."""
