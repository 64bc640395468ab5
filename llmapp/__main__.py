"""`python -m llmapp` runs the CLI."""

from llmapp.cli import main

main()
