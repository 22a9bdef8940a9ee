"""distill layer (see DESIGN.md); its contents arrive with later issues."""
