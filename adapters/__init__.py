"""Platform adapters: each turns its platform's objects into Trellis events and sends our messages."""
