"""``python -m integrator`` runs the command line."""

from integrator.cli.main import main

main()
