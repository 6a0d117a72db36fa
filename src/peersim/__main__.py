"""Allow ``python -m peersim``."""

from peersim.cli import main

main()
