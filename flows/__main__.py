"""`python -m flows` runs the `salvage` command line."""

from flows.cli import main

main()
