"""AI control: who may drive the host's keyboard and mouse besides people (spec 4.10): the control mode,
the MCP server's key and role, and manual input taking precedence over an agent's."""
