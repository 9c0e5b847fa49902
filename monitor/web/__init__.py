"""The risk page: the profile math (pure), its HTTP handlers, the event stream, shipped assets."""
