"""What a person reads: the frontier report, the answer's timeline, review clips."""
