"""Plumbing with no brushlab imports: array backend, tiling, atomic writes, zip containers."""
