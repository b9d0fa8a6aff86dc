"""Reports: run records → tables, plots and comparisons, with the statistics behind them and the published
numbers they are set against (never mixed into the measured tables)."""
