"""Training entry points; each module is a CLI (`python -m trainers.<name> --help`)."""
