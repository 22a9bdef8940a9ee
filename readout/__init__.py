"""readout layer (see DESIGN.md); its contents arrive with later issues."""
