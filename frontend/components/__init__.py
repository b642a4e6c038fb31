"""Reusable pieces of the UI; each renders one thing from data it is given."""
