"""Client channels: thin adapters from web pages, kiosk and phone to intake and client actions."""
