"""Command line of datadrop-slo."""
