"""`python -m kbroker` is the `kbroker` command."""

from kbroker.cli import main

main()
