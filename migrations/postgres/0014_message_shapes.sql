-- Each body's structure (JSON) in a table of its own, apart from the body's bytes
-- (PostgreSQL). Keep in step with migrations/sqlite/0014_message_shapes.sql: same columns
-- and names.
--
-- FETCH of ENVELOPE and BODYSTRUCTURE over a whole mailbox reads only structures. SQLite
-- walked each body's overflow pages to reach the column after the message data; here
-- TOAST kept the data apart already, and the table is the same on both engines so that a
-- backup of one restores into the other.
CREATE TABLE message_shapes (
    body_id BIGINT PRIMARY KEY REFERENCES message_bodies (id) ON DELETE CASCADE,
    shape   TEXT   NOT NULL
);
INSERT INTO message_shapes (body_id, shape)
    SELECT id, shape FROM message_bodies WHERE shape IS NOT NULL;
-- message_bodies.shape is retired: nothing reads or writes it from here on. It is kept, as
-- on SQLite, where dropping it would rewrite every stored message.
