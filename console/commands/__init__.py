"""The `paysync` commands, one module each; console/cli.py parses the command line and runs them."""
