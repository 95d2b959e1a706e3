"""nbvideo: from an ad brief to a finished video inside JupyterLab."""
__version__ = "0.1.0"
