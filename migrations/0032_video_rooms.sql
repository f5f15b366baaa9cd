-- Issue 17, video appointments: a site may name its video service (Jitsi, BigBlueButton, ...) as an https URL
-- template with a {room} placeholder; each video appointment gets its own unguessable room id (video_rooms.py,
-- secrets.token_urlsafe(24): 192 bits). A site without a template books video appointments as before, without a
-- link (the caseworker sends one). The checks equal video_rooms.check_template and video_rooms.new_room.
ALTER TABLE sites ADD COLUMN video_url_template text
    CHECK (video_url_template IS NULL OR (
        length(video_url_template) BETWEEN 16 AND 300
        AND video_url_template ~ '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s"<>\\^`{|}]*)?(\{room\}[^\s"<>\\^`{|}]*)*$'
        AND position('{room}' IN video_url_template) > 0));

CREATE TABLE video_rooms (
    appointment_id  bigint PRIMARY KEY REFERENCES appointments ON DELETE CASCADE,
    site_id         bigint NOT NULL REFERENCES sites,
    room            text NOT NULL UNIQUE CHECK (room ~ '^[A-Za-z0-9_-]{32,64}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
