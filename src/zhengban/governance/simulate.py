"""Simulator part: filled in once inventory's part exists."""
