"""Running train jobs. The local backend runs each replica as a detached supervised process on this host."""
