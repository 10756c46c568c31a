"""Full screens: help, row detail, checklists, quick reference and the lab menu."""
