"""``python -m worker.cli`` runs the ``courier`` command line."""

from worker.console import main  # hides a literal --secret-hash first

main()
