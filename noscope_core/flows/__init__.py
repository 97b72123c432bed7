"""The stage chain: decode, label, train, optimize, run on the test segment, apply to new footage."""
