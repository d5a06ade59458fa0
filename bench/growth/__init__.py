"""Growth bench (`python -m bench.growth`, `make bench-growth`): what a longer history
costs. Rebuild time at a fixed catalog against history length, by replay and from a
catalog snapshot; Redis memory over 30 simulated days with a 7-day retention; the
numbers behind keeping stock events on `events.catalog` or splitting them off.
"""
