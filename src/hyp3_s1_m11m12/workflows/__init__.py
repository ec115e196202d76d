"""Thin command-line workflows: each `main()` parses arguments, calls one library function and uploads."""
