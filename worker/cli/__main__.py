"""``python -m worker.cli`` runs the ``courier`` command line."""

from worker.cli import main

main()
