-- Certificates put to use and the e-government report (PostgreSQL).
-- Keep in step with migrations/sqlite/0007_egov.sql: same columns and constraint names.

-- Of the submitted messages counted in `sent`, `signed` counts every S/MIME-signed one and
-- `verified` those whose signature verified against the sender's certificate in the directory.
-- Signed but not verified is `signed - verified`; unsigned is `sent - signed`.
ALTER TABLE submission_counts ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;

-- When the official was sent the notice that this certificate is about to expire: one notice
-- per certificate, ever.
ALTER TABLE certificates ADD COLUMN expiry_notice_at BIGINT;
CREATE INDEX certificates_not_after ON certificates (not_after);

-- The days (UTC, YYYY-MM-DD) on which an official signed in over any protocol or submitted
-- mail: "active in the period" in the e-government report. One row per official per day.
CREATE TABLE activity_days (
    official_id BIGINT  NOT NULL REFERENCES officials (id) ON DELETE CASCADE,
    day         TEXT    NOT NULL,
    CONSTRAINT activity_days_pkey PRIMARY KEY (official_id, day)
);
CREATE INDEX activity_days_day ON activity_days (day);
