"""zhengban inventory agent (standard library only)."""

__version__ = "0.1.0"
AGENT_NAME = "zhengban-agent"
