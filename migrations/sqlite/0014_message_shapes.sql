-- Each body's structure (JSON) in a table of its own, apart from the body's bytes (SQLite).
-- Keep in step with migrations/postgres/0014_message_shapes.sql: same columns and names.
--
-- FETCH of ENVELOPE and BODYSTRUCTURE over a whole mailbox reads only structures. As the
-- last column of message_bodies, a structure sat after the message data in each record, and
-- SQLite walked the body's overflow pages to reach it: listing a mailbox read every message.
CREATE TABLE message_shapes (
    body_id INTEGER PRIMARY KEY REFERENCES message_bodies (id) ON DELETE CASCADE,
    shape   TEXT    NOT NULL
);
INSERT INTO message_shapes (body_id, shape)
    SELECT id, shape FROM message_bodies WHERE shape IS NOT NULL;
-- message_bodies.shape is retired: nothing reads or writes it from here on. It is not
-- dropped, because SQLite's DROP COLUMN rewrites every stored message.
