"""labelgate: calibrate LLM labelers against human gold before their labels train anything."""

__version__ = "0.1.0"
