"""Figures drawn from results: each module one family of figures, saved as PNG."""
