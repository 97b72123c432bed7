"""The cascade: routing and simulation, execution over video, keyframe plans, per-frame stage costs, scoring."""
