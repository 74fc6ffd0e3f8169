"""Developer tools that drive the running app from outside (the load test); never imported by the app."""
