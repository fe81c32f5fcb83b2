"""What only the notebooks use: the Langevin explorer widget, plotting, the exercises' self-checks."""
