"""What the user asks for: the camera spec, the query, the targets, the time split; the camera registry."""
