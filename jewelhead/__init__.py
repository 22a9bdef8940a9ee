"""Experiments: configs, the command line and reports (see DESIGN.md)."""

from jewelhead._config import DEMO_CONFIG, load_config
from jewelhead.cli import main, simulate

__all__ = ["DEMO_CONFIG", "load_config", "main", "simulate"]
