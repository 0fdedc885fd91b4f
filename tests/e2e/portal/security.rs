//! The portal under hostile input: CSRF, cookies, headers, throttling, sessions, plain HTTP, connection limits and deadlines.
