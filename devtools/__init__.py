"""Development-only tools: the demo for `make run` and the data `make bench` measures.

Installed by the local, test and bench settings, never by production: these write accounts with a
published password and bulk-load audit rows outside `record_event`.
"""
