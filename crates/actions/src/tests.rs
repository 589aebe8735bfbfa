//! Lifecycle and injection tests running real commands through /bin/sh.
