"""The core's own plugins, loaded through the same hooks as third-party ones."""
