"""The subcommands of `relayd`."""
