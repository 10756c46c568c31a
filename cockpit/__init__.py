"""PredictIQ Cockpit core: config, models, sources, incidents, audit, lab. No Textual here."""

__version__ = "0.1.0"
