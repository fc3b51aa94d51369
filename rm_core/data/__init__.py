"""The data stage: sources, converters, coercion, validation, the leak-free split and verl rows."""
