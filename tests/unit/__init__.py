"""Unit tests: fast logic, no sockets, no subprocesses."""
