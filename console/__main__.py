"""`python -m console` runs the `paysync` command line."""

from console.cli import main

raise SystemExit(main())
