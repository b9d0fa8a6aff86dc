"""The run engine: config → protocol units → preflight → mmengine training and evaluation → one record per unit,
and the drivers built on it (sweep, reproduce, the overhead benchmark)."""
