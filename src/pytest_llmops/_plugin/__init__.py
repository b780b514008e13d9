"""The pytest layer: entry hooks, fixtures, markers, the xdist channel and the run's session.

The engine (every other internal package) never imports it.
"""
