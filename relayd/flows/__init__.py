"""Message workflows on top of the one send pipeline: templates and groups, opt-out, schedules."""
