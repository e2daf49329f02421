"""Helpers that are not part of the EWA method itself (benchmark measurement)."""
