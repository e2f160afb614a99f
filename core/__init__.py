"""The bottom layer: no Django, no app imports. Errors and the envelope's data, the shared-state
interface with its Redis and in-process stores, logging setup, money formatting."""
