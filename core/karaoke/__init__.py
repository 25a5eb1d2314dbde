"""karaoke."""
