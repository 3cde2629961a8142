"""qc: pure statistical functions for calibrating LLM labelers against human gold.

Nothing here touches a file, a database, a model API or a UI: inputs are array-likes or
DataFrames, outputs are numbers, arrays, DataFrames or small frozen dataclasses.
"""
