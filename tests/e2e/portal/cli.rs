//! `congvu-admin user reset-link` and `user import --reset-links`: links as IT staff hand them out.
