"""The command line's commands, a module each; ``breakeven.cli`` puts them together."""
