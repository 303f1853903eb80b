"""Benchmarks of autostop-async: deterministic workspaces and the scans that walk them."""
