"""Vision-language backbones the engine runs on, and their registry."""
