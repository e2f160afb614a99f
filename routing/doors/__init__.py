"""Front doors: each client protocol parsed into the one internal request and rendered back.

Pure functions, no I/O and no Django: a door is tested by round-tripping fixtures.
"""
