"""`python -m terminology` runs the command-line interface."""

from terminology.cli import main

raise SystemExit(main())
