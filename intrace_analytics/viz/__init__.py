"""Figures: one palette and style, seaborn-shaped plot functions and maps."""
