"""Platform collectors. Each one fills an :class:`~zhengban_agent.inventory.Inventory`."""
