"""elephas's enums for `mode` and `frequency`: strings, so either spelling works everywhere."""
