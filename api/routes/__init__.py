"""HTTP routes, one topic a module; every module here that defines ``router`` is served."""
