"""Shared plumbing: user-facing errors, atomic writes, file locks, where NoScope keeps its files."""
