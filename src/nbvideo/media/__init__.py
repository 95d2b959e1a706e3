"""Media primitives every layer above may use: ffmpeg and probing, WAV audio, text in any script."""
