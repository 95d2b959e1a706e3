"""Sound: the mix (voice, music, ducking), the offline music bed, user music, loudness."""
