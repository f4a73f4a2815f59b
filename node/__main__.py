"""``python -m node`` runs the ``fedwall`` command."""

from node.cli import main

main()
