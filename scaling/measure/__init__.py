"""Measurements of trained members (coord check; NTK and friends come with issue 3)."""
