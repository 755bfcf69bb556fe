"""Personal Assistant database platform: pooling, health, performance, migrations."""

__version__ = "0.1.0"
